"""The whole pipeline, everything on this machine: ingest, review, publish and stats as processes
(one or three replicas of each) on the local RabbitMQ and FerretDB, the platform sandbox answering
every push after 20 ms. Items on both channels are submitted through ingest's API, approved at both
review levels through review's API by two reviewers polling their queues, and awaited until
published on both channels and counted by stats. Printed beside the raw aio-pika 4-hop chain
(1 KiB persistent messages, publisher confirms, prefetch 256, quorum queues as the services use)
on the same broker, and their ratio; then p50/p99 submission-to-published latency at half the
measured rate, database writes per item and each process's RSS.

    .venv/bin/python bench/pipeline.py [--items 200] [--paced-items 50] [--replicas 1 3]
"""

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import httpx

from bench._counted import WRITES
from bench._local import GONGKAI, drop_databases, env_of, running
from shared.settings import Settings
from shared.topology import topology_of

SERVICES = ("ingest", "review", "publish", "stats")
DEPARTMENT = "bench"
ITEM = {
    "title": "关于开展冬季安全生产大检查的通知",
    "category": "notice",
    "channels": ["platform", "portal"],
    "formed_on": "2026-11-20",
    "body": "各村（社区）、镇直各单位：为切实做好冬季安全生产工作，现将有关事项通知如下。\n请各单位遵照执行。",
}
SUBMITTERS = 16  # submissions in flight at once in the run at full speed
DECIDERS = 16  # decisions in flight at once per reviewer
CHAIN_HOPS = 4


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


@dataclass
class System:
    """The running processes of one configuration and what the bench observes of them."""

    settings: Settings
    processes: dict[str, list[subprocess.Popen]]
    counts: Path
    tokens: dict[str, str]
    submitted: dict[str, float] = field(default_factory=dict)  # id → when its POST left
    published: dict[str, set[str]] = field(default_factory=dict)  # id → channels published on
    done: dict[str, float] = field(default_factory=dict)  # id → when its last channel was published
    refused: Counter[int] = field(default_factory=Counter)  # decisions answered other than 200
    expected: int = 0  # items awaited on both channels so far
    all_done: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.settings.port_of(service)}"

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


# --- the system -------------------------------------------------------------------------------


def bench_settings() -> Settings:
    return Settings(
        namespace="bench" + uuid.uuid4().hex[:8],
        **{f"{name}_port": 18081 + i for i, name in enumerate(SERVICES)},
        sandbox_port=18090,
        platform_url="http://127.0.0.1:18090",
        portal_base_url="http://127.0.0.1:18083",
        attachments_base_url="http://127.0.0.1:18081",
        ingest_writes_per_minute=1e9,
        ingest_write_burst=1_000_000,
        log_level="WARNING",
    )


def add_identity(settings: Settings, *command: str) -> str:
    env = env_of(settings)
    added = subprocess.run([GONGKAI, "admin", *command], env=env, capture_output=True, text=True, check=True)
    return added.stdout.split()[-1]


def identities(settings: Settings) -> dict[str, str]:
    """A department and one reviewer per level, each a holder of its own (four eyes)."""
    return {
        "department": add_identity(settings, "department", "add", DEPARTMENT, "--name", "压测"),
        "level1": add_identity(settings, "reviewer", "add", "压测审查员", "--level", "1"),
        "level2": add_identity(settings, "reviewer", "add", "压测审核员", "--level", "2"),
    }


async def consumers_ready(settings: Settings, replicas: int) -> None:
    """Until every replica of every service consumes its queue (they all answer one port)."""
    connection = await aio_pika.connect(settings.rabbitmq_url)
    try:
        for name in SERVICES:
            queue = topology_of(name, settings).queue.name
            while True:
                channel = await connection.channel()
                declared = await channel.declare_queue(queue, passive=True)
                await channel.close()
                if declared.declaration_result.consumer_count >= replicas:
                    break
                await asyncio.sleep(0.2)
    finally:
        await connection.close()


@contextlib.contextmanager
def system(settings: Settings, replicas: int):
    counts = Path(tempfile.mkdtemp(prefix="gongkai-counts-"))
    env = {"GONGKAI_BENCH_COUNTS": str(counts)}
    with contextlib.ExitStack() as stack:
        started = {name: [] for name in ("sandbox", *SERVICES)}
        started["sandbox"].append(
            stack.enter_context(running(settings, GONGKAI, "sandbox", "platform", ready="sandbox"))
        )
        for name in SERVICES:
            for _ in range(replicas):
                command = (sys.executable, "-m", "bench._counted", name)
                started[name].append(stack.enter_context(running(settings, *command, ready=name, env=env)))
        asyncio.run(consumers_ready(settings, replicas))
        yield System(settings, started, counts, identities(settings))


# --- driving it -------------------------------------------------------------------------------


async def tap_publications(system: System) -> aio_pika.abc.AbstractConnection:
    """Note when each item is published on each channel, from the events themselves."""
    connection = await aio_pika.connect(system.settings.rabbitmq_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(f"{system.settings.namespace}.events", "topic", durable=True)
    tap = await channel.declare_queue(exclusive=True)
    await tap.bind(exchange, "publication.published")

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        event = json.loads(message.body)
        channels = system.published.setdefault(event["submission_id"], set())
        channels.add(event["data"]["channel"])
        if len(channels) == len(ITEM["channels"]):
            system.done.setdefault(event["submission_id"], time.perf_counter())
            if len(system.done) >= system.expected:
                system.all_done.set()

    await tap.consume(on_message, no_ack=True)
    return connection


async def submit(http: httpx.AsyncClient, system: System) -> None:
    left = time.perf_counter()
    answer = await http.post(
        f"{system.url('ingest')}/v1/submissions", json=ITEM, headers=system.auth("department")
    )
    answer.raise_for_status()
    system.submitted[answer.json()["id"]] = left


async def submit_at_once(http: httpx.AsyncClient, system: System, items: int) -> None:
    remaining = iter(range(items))

    async def submitter():
        for _ in remaining:
            await submit(http, system)

    await asyncio.gather(*(submitter() for _ in range(SUBMITTERS)))


async def submit_paced(http: httpx.AsyncClient, system: System, items: int, rate: float) -> None:
    """Open loop: each submission leaves on schedule, whatever the answers do."""
    started, tasks = time.perf_counter(), []
    for i in range(items):
        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(submit(http, system)))
    await asyncio.gather(*tasks)


async def reviewer(http: httpx.AsyncClient, system: System, who: str) -> None:
    """Approve whatever the queue shows, polling it again as soon as the last page is decided."""
    decided: set[str] = set()
    headers = system.auth(who)
    gate = asyncio.Semaphore(DECIDERS)

    async def approve(sid: str) -> None:
        async with gate:
            url = f"{system.url('review')}/v1/reviews/{sid}/decisions"
            answer = await http.post(url, json={"decision": "approve", "comment": "同意"}, headers=headers)
        if answer.status_code != 200:
            system.refused[answer.status_code] += 1
            decided.discard(sid)  # shown again if still waiting: tried again

    while True:
        page = (await http.get(f"{system.url('review')}/v1/reviews?limit=200", headers=headers)).json()
        fresh = [i["submission_id"] for i in page["items"] if i["submission_id"] not in decided]
        decided.update(fresh)
        if fresh:
            await asyncio.gather(*(approve(sid) for sid in fresh))
        else:
            await asyncio.sleep(0.01)


async def counted(http: httpx.AsyncClient, system: System, publications: int) -> float:
    """When stats has counted `publications` publications of the bench's department."""
    while True:
        figures = (await http.get(f"{system.url('stats')}/v1/stats?department={DEPARTMENT}")).json()
        if figures["published"]["total"] >= publications:
            return time.perf_counter()
        await asyncio.sleep(0.05)


@dataclass
class Throughput:
    items: int
    seconds: float
    latencies: list[float]  # ms, submission to published on both channels

    @property
    def per_second(self) -> float:
        return self.items / self.seconds


async def run_phase(http, system: System, items: int, rate: float | None) -> Throughput:
    """Submit `items` (at once, or paced at `rate` a second) and wait until all are counted."""
    before = set(system.submitted)
    system.expected = len(before) + items
    system.all_done.clear()
    started = time.perf_counter()
    if rate is None:
        await submit_at_once(http, system, items)
    else:
        await submit_paced(http, system, items, rate)
    finished = await asyncio.wait_for(counted(http, system, 2 * system.expected), 900)
    await asyncio.wait_for(system.all_done.wait(), 60)  # stats counts from the same events
    mine = set(system.submitted) - before
    latencies = [(system.done[sid] - system.submitted[sid]) * 1000 for sid in mine]
    return Throughput(items, finished - started, latencies)


async def drive(system: System, items: int, paced_items: int) -> tuple[Throughput, Throughput, dict]:
    tap = await tap_publications(system)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    try:
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            reviewers = [asyncio.create_task(reviewer(http, system, who)) for who in ("level1", "level2")]
            try:
                before = snapshot(system)
                full = await run_phase(http, system, items, None)
                writes = difference(snapshot(system), before)
                paced = await run_phase(http, system, paced_items, full.per_second / 2)
            finally:
                for task in reviewers:
                    task.cancel()
                await asyncio.gather(*reviewers, return_exceptions=True)
    finally:
        await tap.close()
    return full, paced, writes


# --- what the processes tell ------------------------------------------------------------------


def snapshot(system: System) -> dict[str, Counter[str]]:
    """The database commands each service has sent so far, by command and collection."""
    for processes in list(system.processes.values())[1:]:
        for process in processes:
            os.kill(process.pid, signal.SIGUSR1)
    time.sleep(0.3)
    counts = {}
    for name in SERVICES:
        counts[name] = Counter()
        for process in system.processes[name]:
            counts[name].update(json.loads((system.counts / f"{process.pid}.json").read_text()))
    return counts


def difference(after: dict, before: dict) -> dict[str, Counter[str]]:
    return {name: after[name] - before[name] for name in after}


def rss_kib(pid: int) -> int:
    """Resident memory of a process and of its children (ingest's file readers), in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    own = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own + sum(rss_kib(int(child)) for child in children)


# --- the raw chain ----------------------------------------------------------------------------


async def chain(settings: Settings, messages: int) -> float:
    """Messages per second through CHAIN_HOPS quorum queues in sequence, each hop's consumer
    republishing (persistent, confirmed) to the next before it acks."""
    connection = await aio_pika.connect(settings.rabbitmq_url)
    names = [f"{settings.namespace}.chain.{k}" for k in range(CHAIN_HOPS)]
    arrived, everything, channels = 0, asyncio.Event(), []
    try:
        for k, name in enumerate(names):
            channel = await connection.channel()
            channels.append(channel)
            await channel.set_qos(prefetch_count=256)
            queue = await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
            following = names[k + 1] if k + 1 < CHAIN_HOPS else None

            async def on_message(message, channel=channel, following=following):
                nonlocal arrived
                if following:
                    await channel.default_exchange.publish(persistent(message.body), routing_key=following)
                else:
                    arrived += 1
                    if arrived == messages:
                        everything.set()
                await message.ack()

            await queue.consume(on_message)
        producer = await connection.channel()
        body = os.urandom(512).hex().encode()  # 1 KiB
        started = time.perf_counter()
        for first in range(0, messages, 256):
            batch = range(first, min(first + 256, messages))
            await asyncio.gather(
                *(producer.default_exchange.publish(persistent(body), routing_key=names[0]) for _ in batch)
            )
        await asyncio.wait_for(everything.wait(), 300)
        return messages / (time.perf_counter() - started)
    finally:
        for channel in channels:  # their consumers first, so that no deletion cancels one
            await channel.close()
        cleanup = await connection.channel()
        for name in names:
            await cleanup.queue_delete(name)
        await connection.close()


def persistent(body: bytes) -> aio_pika.Message:
    return aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)


# --- the run and its table --------------------------------------------------------------------


@dataclass
class Result:
    replicas: int
    full: Throughput
    paced: Throughput
    writes: dict[str, Counter[str]]
    rss: dict[str, list[int]]


def measure(replicas: int, items: int, paced_items: int) -> Result:
    settings = bench_settings()
    try:
        with system(settings, replicas) as running_system:
            httpx.put(
                f"{running_system.url('sandbox')}/behaviour", json={"delay_seconds": 0.02}
            ).raise_for_status()
            full, paced, writes = asyncio.run(drive(running_system, items, paced_items))
            rss = {n: [rss_kib(p.pid) for p in ps] for n, ps in running_system.processes.items()}
            if running_system.refused:
                print(f"  decisions refused ({replicas} replicas): {dict(running_system.refused)}")
    finally:
        drop_databases(settings, *SERVICES, "identity")
    return Result(replicas, full, paced, writes, rss)


def writes_of(counts: Counter[str]) -> int:
    return sum(n for key, n in counts.items() if key.split()[0] in WRITES)


def print_table(results: list[Result], chain_rate: float, items: int) -> None:
    print(f"\npipeline, {items} items on both channels, two review levels, platform answering in 20 ms")
    print(f"raw aio-pika {CHAIN_HOPS}-hop chain: {chain_rate:,.0f} messages/s")
    print(
        f"{'replicas':>8} {'items/s':>8} {'ratio':>7} {'p50 ms':>8} {'p99 ms':>8} {'paced/s':>8} "
        f"{'writes/item':>12} {'commands/item':>14}"
    )
    for r in results:
        writes = sum(writes_of(c) for c in r.writes.values()) / items
        commands = sum(sum(c.values()) for c in r.writes.values()) / items
        print(
            f"{r.replicas:>8} {r.full.per_second:>8.1f} {r.full.per_second / chain_rate:>7.4f} "
            f"{percentile(r.paced.latencies, 50):>8.0f} {percentile(r.paced.latencies, 99):>8.0f} "
            f"{r.paced.items / r.paced.seconds:>8.1f} {writes:>12.1f} {commands:>14.1f}"
        )
    for r in results:
        print(
            f"\n{r.replicas} replica(s): per service, per item (all its replicas together); RSS MiB per process"
        )
        for name in SERVICES:
            counts = r.writes[name]
            rss = " ".join(f"{kib / 1024:.0f}" for kib in r.rss[name])
            print(
                f"  {name:<8} writes {writes_of(counts) / items:5.1f}  commands {sum(counts.values()) / items:5.1f}"
                f"  RSS {rss}"
            )
        print(f"  sandbox  RSS {r.rss['sandbox'][0] / 1024:.0f}")
        top = sum(r.writes.values(), Counter()).most_common(8)
        print("  most sent: " + "; ".join(f"{key} {n / items:.1f}" for key, n in top))


def main(items: int, paced_items: int, replicas: list[int], chain_messages: int) -> None:
    results = [measure(n, items, paced_items) for n in replicas]
    settings = bench_settings()
    chain_rate = asyncio.run(chain(settings, chain_messages))
    print_table(results, chain_rate, items)
    print(
        "\nitems/s: from the first submission until stats counted every publication; ratio: items/s"
        "\n÷ chain messages/s; latency: submission to published on both channels, paced at half the"
        "\nitems/s (paced/s: what that run achieved); writes: insert/update/delete/findAndModify"
        "\ncommands, counted in each process by a pymongo command listener (bench/_counted.py),"
        "\nduring the full-speed run; RSS: VmRSS at the end, a process with its children."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--paced-items", type=int, default=50)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--chain-messages", type=int, default=2000)
    args = parser.parse_args()
    main(args.items, args.paced_items, args.replicas, args.chain_messages)
