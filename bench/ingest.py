"""Ingest under load, everything on this machine: ingest as a process on the local RabbitMQ and
FerretDB, submissions over HTTP. Two figures:
- at a fixed offered load (open loop: requests leave on schedule whatever the answers do), the
  accepted submissions per second and the p50/p99 latency;
- the most it accepts with 16 clients sending back to back (closed loop).

    .venv/bin/python bench/ingest.py [--rate 50] [--seconds 10]
"""

import argparse
import asyncio
import statistics
import subprocess
import time
import uuid

import aio_pika
import httpx

from bench._local import GONGKAI, drop_databases, env_of, service
from shared.settings import Settings

ITEM = {
    "title": "关于开展冬季安全生产大检查的通知",
    "category": "notice",
    "channels": ["platform", "portal"],
    "formed_on": "2026-11-20",
    "body": "各村（社区）、镇直各单位：为切实做好冬季安全生产工作，现将有关事项通知如下。" * 20,
}


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


async def post(http: httpx.AsyncClient, headers: dict, latencies: list[float], statuses: list[int]) -> None:
    started = time.perf_counter()
    answer = await http.post("/v1/submissions", json=ITEM, headers=headers)
    latencies.append((time.perf_counter() - started) * 1000)
    statuses.append(answer.status_code)


async def open_loop(http, headers, rate: float, seconds: float):
    latencies, statuses, tasks = [], [], []
    started = time.perf_counter()
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(post(http, headers, latencies, statuses)))
    await asyncio.gather(*tasks)
    return latencies, statuses, time.perf_counter() - started


async def closed_loop(http, headers, clients: int, seconds: float):
    latencies, statuses = [], []
    deadline = time.perf_counter() + seconds

    async def client():
        while time.perf_counter() < deadline:
            await post(http, headers, latencies, statuses)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, statuses, time.perf_counter() - started


def report(label: str, latencies: list[float], statuses: list[int], elapsed: float) -> None:
    accepted = statuses.count(202)
    print(
        f"ingest, {label}: {accepted / elapsed:,.1f} accepted submissions/s ({accepted} of {len(statuses)}), "
        f"latency p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms"
    )


async def load(settings: Settings, token: str, rate: float, seconds: float) -> None:
    connection = await aio_pika.connect(settings.rabbitmq_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(f"{settings.namespace}.events", "topic", durable=True)
    sink = await channel.declare_queue(exclusive=True)  # takes submission.received, as review would
    await sink.bind(exchange, "submission.*")
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{settings.ingest_port}",
            timeout=30,
            limits=httpx.Limits(max_connections=64),
        ) as http:
            report(f"offered {rate:g}/s for {seconds:g} s", *await open_loop(http, headers, rate, seconds))
            report(
                f"16 clients back to back for {seconds:g} s", *await closed_loop(http, headers, 16, seconds)
            )
    finally:
        await connection.close()


def main(rate: float, seconds: float) -> None:
    settings = Settings(
        namespace="bench" + uuid.uuid4().hex[:8],
        ingest_port=18081,
        ingest_writes_per_minute=1e9,
        ingest_write_burst=1_000_000,
        log_level="WARNING",
    )
    try:
        with service(settings, "ingest"):
            added = subprocess.run(
                [GONGKAI, "admin", "department", "add", "bench", "--name", "压测"],
                env=env_of(settings),
                capture_output=True,
                text=True,
                check=True,
            )
            asyncio.run(load(settings, added.stdout.split()[-1], rate, seconds))
    finally:
        drop_databases(settings, "ingest", "identity")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    main(args.rate, args.seconds)
