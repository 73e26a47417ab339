"""What the benches that run gongkai's processes share: a service started as a process in a
namespace of its own, on the local RabbitMQ and FerretDB, and that namespace removed after."""

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import aio_pika

from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
GONGKAI = str(ROOT / ".venv/bin/gongkai")


def env_of(settings: Settings) -> dict[str, str]:
    return {**os.environ, **settings.as_environment()}


@contextlib.contextmanager
def started(settings: Settings, *command: str, env: dict[str, str] | None = None):
    """`command` as a process with `settings` (and `env`), stopped at the end."""
    process = subprocess.Popen(
        list(command),
        cwd=ROOT,
        env={**env_of(settings), **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(15)


def wait_ready(settings: Settings, *services: str, seconds: float = 30) -> None:
    """Until `gongkai ready` answers for each of `services`."""
    subprocess.run([GONGKAI, "ready", *services, "--wait", str(seconds)], env=env_of(settings), check=True)


@contextlib.contextmanager
def running(settings: Settings, *command: str, ready: str):
    """`command` as a process with `settings`, once `gongkai ready <ready>` answers."""
    with started(settings, *command) as process:
        wait_ready(settings, ready)
        yield process


def service(settings: Settings, name: str):
    return running(settings, sys.executable, "-m", f"services.{name}", ready=name)


def remove_topology(settings: Settings, *services: str) -> None:
    """The queues (and DLQs) of `services` and the namespace's exchanges, off the shared broker."""
    asyncio.run(_remove_topology(settings, services))


async def _remove_topology(settings: Settings, services: tuple[str, ...]) -> None:
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        for name in services:
            await channel.queue_delete(f"{settings.namespace}.{name}")
            await channel.queue_delete(f"{settings.namespace}.{name}.dlq")
        for name in ("events", "dlx"):
            await channel.exchange_delete(f"{settings.namespace}.{name}")


def drop_databases(settings: Settings, *owners: str) -> None:
    drop = "import pymongo, sys; c = pymongo.MongoClient(sys.argv[1]); [c.drop_database(n) for n in sys.argv[2:]]"
    names = [settings.database_name(owner) for owner in owners]
    subprocess.run([sys.executable, "-c", drop, settings.mongodb_url, *names], check=False)
