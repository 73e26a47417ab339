"""The whole pipeline, everything on this machine: ingest, review, publish and stats as processes
(one or three replicas of each) on the local RabbitMQ and FerretDB, the platform sandbox answering
every push after 20 ms. Items on both channels are submitted through ingest's API, approved at both
review levels through review's API by two reviewers polling their queues, and awaited until
published on both channels and counted by stats. Printed beside the raw aio-pika 4-hop chain
(1 KiB persistent messages, publisher confirms, prefetch 256, quorum queues as the services use)
on the same broker, and their ratio; then p50/p99 submission-to-published latency at half the
measured rate, database writes per item and each process's RSS.

    .venv/bin/python bench/pipeline.py [--items 200] [--paced-items 50] [--replicas 1 3]

The paced run submits --paced-items, or fewer if that would take more than a minute (at least 10).

GONGKAI_MONGODB_URL and GONGKAI_RABBITMQ_URL choose the servers, as for the services.
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
from bench._local import GONGKAI, drop_databases, remove_topology, started, wait_ready
from shared.auth import Principal, add_department, issue_token
from shared.domain import Role
from shared.mongo import connect, database_of
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
PHASE_SECONDS = 900  # the most a run may take to be counted
STRAGGLER_SECONDS = 120  # then, the most it waits for each item to be seen published on both channels
DATABASE = "database"  # the database server's CPU, beside the services' tallies
PACED_SECONDS, PACED_LEAST = 60, 10  # the paced run submits for about a minute, at least this many


def percentile(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
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
    database_pid: int | None = None  # the database server's process, when it runs on this machine
    overcounted: int = 0  # publications stats counted beyond two per item: exactly once broken
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


async def identities(settings: Settings) -> dict[str, str]:
    """A department and one reviewer per level, each a holder of its own (four eyes)."""
    client = connect(settings)
    try:
        identity = database_of(client, settings, "identity")
        tokens = {"department": await add_department(identity, DEPARTMENT, "压测")}
        for level, name in ((1, "压测审查员"), (2, "压测审核员")):
            reviewer = Principal(name=name, role=Role.REVIEWER, level=level)
            tokens[f"level{level}"] = await issue_token(identity, reviewer)
        return tokens
    finally:
        await client.close()


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
    """The sandbox and `replicas` processes of each service, all started at once."""
    counts = Path(tempfile.mkdtemp(prefix="gongkai-counts-"))
    counted_env = {"GONGKAI_BENCH_COUNTS": str(counts)}
    with contextlib.ExitStack() as stack:
        processes = {"sandbox": [stack.enter_context(started(settings, GONGKAI, "sandbox", "platform"))]}
        for name in SERVICES:
            command = (sys.executable, "-m", "bench._counted", name)
            processes[name] = [
                stack.enter_context(started(settings, *command, env=counted_env)) for _ in range(replicas)
            ]
        wait_ready(settings, "sandbox", *SERVICES, seconds=120)
        asyncio.run(consumers_ready(settings, replicas))
        yield System(settings, processes, counts, asyncio.run(identities(settings)))


# --- what the processes tell ------------------------------------------------------------------


@dataclass
class Tally:
    """What one service's processes did: database commands by command and collection, the
    milliseconds they took to be answered, and CPU seconds (its children's included)."""

    counts: Counter[str] = field(default_factory=Counter)
    milliseconds: Counter[str] = field(default_factory=Counter)
    cpu: float = 0.0

    def add(self, counted: dict, cpu: float) -> None:
        self.counts.update(counted["counts"])
        self.milliseconds.update(counted["milliseconds"])
        self.cpu += cpu

    def __sub__(self, other: "Tally") -> "Tally":
        return Tally(self.counts - other.counts, self.milliseconds - other.milliseconds, self.cpu - other.cpu)

    @property
    def writes(self) -> int:
        return sum(n for key, n in self.counts.items() if key.split()[0] in WRITES)


def snapshot(system: System) -> dict[str, Tally]:
    """What each service has done so far."""
    for name in SERVICES:
        for process in system.processes[name]:
            os.kill(process.pid, signal.SIGUSR1)
    time.sleep(0.3)
    tallies = {name: Tally() for name in SERVICES}
    for name in SERVICES:
        for process in system.processes[name]:
            counted = json.loads((system.counts / f"{process.pid}.json").read_text())
            tallies[name].add(counted, cpu_seconds(process.pid))
    if system.database_pid:
        tallies[DATABASE] = Tally(cpu=cpu_seconds(system.database_pid))
    return tallies


def difference(after: dict[str, Tally], before: dict[str, Tally]) -> dict[str, Tally]:
    return {name: after[name] - before[name] for name in after}


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and of its children that have ended."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """Resident memory of a process and of its children (ingest's file readers), in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    own = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own + sum(rss_kib(int(child)) for child in children)


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


async def counted(http: httpx.AsyncClient, system: System, items: int) -> float:
    """When stats has counted `items` items of the bench's department, each on both channels."""
    while True:
        figures = (await http.get(f"{system.url('stats')}/v1/stats?department={DEPARTMENT}")).json()
        published = figures["published"]
        if published["items"] >= items and published["total"] >= 2 * items:
            system.overcounted = published["total"] - 2 * items
            return time.perf_counter()
        await asyncio.sleep(0.05)


@dataclass
class Throughput:
    items: int
    seconds: float
    latencies: list[float]  # ms, submission to published on both channels
    missing: int  # items not seen published on both channels STRAGGLER_SECONDS after stats counted all

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
    counted_at = await asyncio.wait_for(counted(http, system, system.expected), PHASE_SECONDS)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(system.all_done.wait(), STRAGGLER_SECONDS)
    mine = set(system.submitted) - before
    published = mine & set(system.done)
    finished = max(counted_at, *(system.done[sid] for sid in published))  # counted, and on both channels
    latencies = [(system.done[sid] - system.submitted[sid]) * 1000 for sid in published]
    return Throughput(items, finished - started, latencies, len(mine - published))


async def drive(
    system: System, items: int, paced_items: int
) -> tuple[Throughput, Throughput, dict[str, Tally]]:
    tap = await tap_publications(system)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    try:
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            reviewers = [asyncio.create_task(reviewer(http, system, who)) for who in ("level1", "level2")]
            try:
                before = snapshot(system)
                full = await run_phase(http, system, items, None)
                tallies = difference(snapshot(system), before)
                progress(f"{items} items at full speed: {full.per_second:.2f}/s")
                rate = full.per_second / 2
                paced_items = max(PACED_LEAST, min(paced_items, int(rate * PACED_SECONDS)))
                paced = await run_phase(http, system, paced_items, rate)
                progress(f"{paced_items} items paced at {rate:.2f}/s")
            finally:
                for task in reviewers:
                    task.cancel()
                await asyncio.gather(*reviewers, return_exceptions=True)
    finally:
        await tap.close()
    return full, paced, tallies


def progress(line: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


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
    tallies: dict[str, Tally]  # of the run at full speed
    rss: dict[str, list[int]]


def measure(replicas: int, items: int, paced_items: int, database_pid: int | None) -> Result:
    settings = bench_settings()
    progress(f"{replicas} replica(s) of each service starting, namespace {settings.namespace}")
    try:
        with system(settings, replicas) as running_system:
            running_system.database_pid = database_pid
            httpx.put(
                f"{running_system.url('sandbox')}/behaviour", json={"delay_seconds": 0.02}
            ).raise_for_status()
            full, paced, tallies = asyncio.run(drive(running_system, items, paced_items))
            rss = {n: [rss_kib(p.pid) for p in ps] for n, ps in running_system.processes.items()}
            if running_system.refused:
                print(f"  decisions refused ({replicas} replicas): {dict(running_system.refused)}")
            if running_system.overcounted:
                print(
                    f"  ({replicas} replicas) stats counted {running_system.overcounted} publications too many"
                )
    finally:
        drop_databases(settings, *SERVICES, "identity")
        remove_topology(settings, *SERVICES)
    return Result(replicas, full, paced, tallies, rss)


def print_header(chain_rate: float, items: int) -> None:
    print(f"\npipeline, {items} items on both channels, two review levels, platform answering in 20 ms")
    print(f"raw aio-pika {CHAIN_HOPS}-hop chain: {chain_rate:,.0f} messages/s")
    print(
        f"{'replicas':>8} {'items/s':>8} {'ratio':>7} {'p50 ms':>8} {'p99 ms':>8} {'paced':>6} {'paced/s':>8} "
        f"{'writes/item':>12} {'commands/item':>14} {'missing':>8}"
    )


def print_row(r: Result, chain_rate: float, items: int) -> None:
    writes = sum(t.writes for t in r.tallies.values()) / items
    commands = sum(t.counts.total() for t in r.tallies.values()) / items
    print(
        f"{r.replicas:>8} {r.full.per_second:>8.2f} {r.full.per_second / chain_rate:>7.4f} "
        f"{percentile(r.paced.latencies, 50):>8.0f} {percentile(r.paced.latencies, 99):>8.0f} "
        f"{r.paced.items:>6} {r.paced.items / r.paced.seconds:>8.2f} {writes:>12.1f} {commands:>14.1f} "
        f"{r.full.missing + r.paced.missing:>8}",
        flush=True,
    )


def print_services(r: Result, items: int) -> None:
    print(f"\n{r.replicas} replica(s), per item, all of a service's replicas together:")
    print(
        f"  {'service':<8} {'writes':>7} {'commands':>9} {'db ms':>7} {'cpu ms':>7}  RSS MiB of each process"
    )
    for name in SERVICES:
        t = r.tallies[name]
        rss = " ".join(f"{kib / 1024:.0f}" for kib in r.rss[name])
        print(
            f"  {name:<8} {t.writes / items:>7.1f} {t.counts.total() / items:>9.1f} "
            f"{t.milliseconds.total() / items:>7.0f} {t.cpu * 1000 / items:>7.0f}  {rss}"
        )
    print(f"  {'sandbox':<8} {'':>35}  {r.rss['sandbox'][0] / 1024:.0f}")
    if DATABASE in r.tallies:
        print(
            f"  {'database':<8} {'':>25} {r.tallies[DATABASE].cpu * 1000 / items:>7.0f}  (the server's CPU)"
        )
    for name in SERVICES:
        top = r.tallies[name].milliseconds.most_common(4)
        counts = r.tallies[name].counts
        shown = "; ".join(
            f"{command_of(key)} {counts[key] / items:.1f}× {ms / items:.0f} ms" for key, ms in top
        )
        print(f"  {name} waits longest on: {shown}")


def command_of(key: str) -> str:
    """`find review.tasks` of `find <namespace>_review.tasks`."""
    command, where = key.split(maxsplit=1)
    return f"{command} {where.split('_', 1)[-1]}"


def main(
    items: int, paced_items: int, replicas: list[int], chain_messages: int, database_pid: int | None
) -> None:
    # Stopped from outside, it still stops its processes and removes its namespace.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    chain_rate = asyncio.run(chain(bench_settings(), chain_messages))
    results = []
    for n in replicas:  # each configuration's figures as soon as it is measured
        results.append(measure(n, items, paced_items, database_pid))
        print_header(chain_rate, items)
        for r in results:
            print_row(r, chain_rate, items)
        print_services(results[-1], items)
    print(
        "\nitems/s: from the first submission until stats counted every publication; ratio: items/s"
        "\n÷ chain messages/s; latency: submission to published on both channels, paced at half the"
        "\nitems/s (paced/s: what that run achieved); missing: items never seen published on both"
        "\nchannels (their latency is left out); writes: insert/update/delete/findAndModify"
        "\ncommands, counted in each process by a pymongo command listener (bench/_counted.py),"
        "\nduring the full-speed run, with the time they took to be answered (db ms) and the CPU"
        "\nthe processes used (cpu ms); RSS: VmRSS at the end, a process with its children."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--paced-items", type=int, default=50)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--chain-messages", type=int, default=2000)
    parser.add_argument(
        "--database-pid", type=int, help="The database server's pid: its CPU per item is shown too"
    )
    args = parser.parse_args()
    main(args.items, args.paced_items, args.replicas, args.chain_messages, args.database_pid)
