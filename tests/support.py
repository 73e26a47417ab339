"""What the integration and end-to-end tests share: the real servers, isolated per test run by a
namespace of their own, and small helpers to watch events and wait for things."""

import asyncio
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aio_pika

from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
RABBITMQ_IMAGE = "rabbitmq:4.1.4-management"  # the tag compose.yaml pins


@dataclass(frozen=True)
class Servers:
    rabbitmq_url: str
    mongodb_url: str


def _docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def provide_servers(stack) -> Servers:
    """GONGKAI_RABBITMQ_URL / GONGKAI_MONGODB_URL when set, else testcontainers when a Docker
    engine answers, else the local provisioning of `make up` (RabbitMQ and FerretDB)."""
    rabbit, mongo = os.environ.get("GONGKAI_RABBITMQ_URL"), os.environ.get("GONGKAI_MONGODB_URL")
    if rabbit and mongo:
        return Servers(rabbit, mongo)
    if _docker_answers():
        from testcontainers.community.mongodb import MongoDbContainer
        from testcontainers.community.rabbitmq import RabbitMqContainer

        r = stack.enter_context(RabbitMqContainer(RABBITMQ_IMAGE))
        m = stack.enter_context(MongoDbContainer("mongo:7"))
        rabbit_url = f"amqp://guest:guest@{r.get_container_host_ip()}:{r.get_exposed_port(5672)}/"
        return Servers(rabbit or rabbit_url, mongo or m.get_connection_url())
    subprocess.run([str(ROOT / "scripts" / "servers.sh")], check=True)
    return Servers(rabbit or "amqp://guest:guest@127.0.0.1:5672/", mongo or "mongodb://127.0.0.1:27017/")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_settings(servers: Servers, **overrides) -> Settings:
    """Settings whose exchange, queues and databases belong to this test alone."""
    return Settings(
        rabbitmq_url=servers.rabbitmq_url,
        mongodb_url=servers.mongodb_url,
        namespace="t" + uuid.uuid4().hex[:12],
        outbox_poll_seconds=0.2,
        webhook_trusted_networks=["127.0.0.0/8"],  # the tests' receivers listen here
        **overrides,
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The same settings as GONGKAI_* variables, for a service started as a process."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("GONGKAI_")},
        **settings.as_environment(),
    }


class EventTap:
    """A queue of our own bound to the namespace's exchange: what the services announced."""

    def __init__(self, settings: Settings, pattern: str = "#"):
        self.settings, self.pattern = settings, pattern
        self.events: list[dict] = []

    async def __aenter__(self) -> "EventTap":
        self.connection = await aio_pika.connect_robust(self.settings.rabbitmq_url)
        channel = await self.connection.channel()
        exchange = await channel.declare_exchange(
            f"{self.settings.namespace}.events", aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key=self.pattern)
        await queue.consume(self._on_message, no_ack=True)
        self.exchange = exchange
        return self

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.events.append(json.loads(message.body))

    async def __aexit__(self, *exc) -> None:
        await self.connection.close()

    def of(self, event_type: str, submission_id: str | None = None) -> list[dict]:
        return [
            e
            for e in self.events
            if e["type"] == event_type and (submission_id is None or e["submission_id"] == submission_id)
        ]

    async def wait_for(
        self, event_type: str, submission_id: str | None = None, count: int = 1, seconds: float = 20
    ):
        await eventually(
            lambda: len(self.of(event_type, submission_id)) >= count,
            seconds,
            f"{count} × {event_type} for {submission_id}",
        )
        return self.of(event_type, submission_id)

    async def publish(self, event) -> None:
        """Put an event on the exchange exactly as a service's relay would."""
        await self.exchange.publish(
            aio_pika.Message(
                event.model_dump_json().encode(),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=event.type,
        )


async def eventually(check, seconds: float = 20, what: str = "condition"):
    """Poll `check` (sync or async) until it is truthy; fail with `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}")
        await asyncio.sleep(0.1)


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    """The `gongkai` console script, as an operator runs it, against the test's namespace."""
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "gongkai"), *args],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=150,  # a guard against a hang, not a speed check: a loaded machine runs the CLI slowly
    )


class Outage:
    """A TCP proxy in front of a server, which a test cuts and restores: the server's outage as
    its clients see it (every connection dropped, new ones closed at once)."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.down, self.links = False, set()

    async def __aenter__(self) -> "Outage":
        self.server = await asyncio.start_server(self._link, "127.0.0.1", 0)
        self.listening = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self.cut()
        self.server.close()

    def url_of(self, url: str) -> str:
        """`url` with its server replaced by this proxy."""
        return url.replace(f"{self.host}:{self.port}", f"127.0.0.1:{self.listening}")

    def cut(self) -> None:
        self.down = True
        for writer in list(self.links):
            writer.close()

    def restore(self) -> None:
        self.down = False

    async def _link(self, reader, writer) -> None:
        if self.down:
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(self.host, self.port)
        self.links |= {writer, upstream_writer}
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader, writer) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self.links.discard(writer)
            writer.close()


def at_once(work, count: int, *args) -> list:
    """`work(index, ready, *args)` in `count` spawned processes (each with its own clients), each
    calling `ready()` once set, so that they start together at a barrier; their results in
    process order. A process that failed fails the caller with its traceback."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(count), context.Queue()
    started = [context.Process(target=_one, args=(work, i, barrier, results, args)) for i in range(count)]
    for p in started:
        p.start()
    try:
        answers = {i: (status, value) for i, status, value in (results.get(timeout=300) for _ in started)}
    finally:
        for p in started:
            p.join(30)
            if p.is_alive():
                p.kill()
    failed = [value for status, value in answers.values() if status != "ok"]
    assert not failed, "a racing process failed:\n" + "\n".join(failed)
    return [answers[i][1] for i in range(count)]


def _one(work, index: int, barrier, results, args: tuple) -> None:
    try:
        results.put((index, "ok", work(index, lambda: barrier.wait(timeout=60), *args)))
    except BaseException:
        results.put((index, "error", traceback.format_exc()))
