"""Publication throughput, everything on this machine: publish as a process on the local RabbitMQ
and FerretDB, the platform sandbox as a process answering every push after 20 ms, and approvals
put on the exchange as review would. Measured from the first approval to the last
`publication.published`: publications per second through both channels (an item on both counts
twice, as the annual report counts).

    .venv/bin/python bench/publish.py [--items 300] [--platform-ms 20]
"""

import argparse
import asyncio
import json
import time
import uuid
from datetime import date

import aio_pika
import httpx

from bench._local import GONGKAI, drop_databases, running, service
from shared.events import Approval, ItemContent, ReviewApproved, ReviewApprovedData, new_event, utcnow
from shared.settings import Settings

CONTENT = ItemContent(
    title="关于开展冬季安全生产大检查的通知",
    body="各村（社区）、镇直各单位：为切实做好冬季安全生产工作，现将有关事项通知如下。\n\n" * 20,
    category="notice",
    channels=("platform", "portal"),
    formed_on=date(2026, 11, 20),
    department="bench",
    department_name="压测",
)


def approval(sid: str) -> ReviewApproved:
    approvals = tuple(Approval(level=n, reviewer=f"r{n}", decided_at=utcnow()) for n in (1, 2))
    data = ReviewApprovedData(revision=1, content=CONTENT, approvals=approvals)
    return new_event(ReviewApproved, sid, "bench", data)


async def measure(settings: Settings, items: int, platform_ms: float) -> None:
    connection = await aio_pika.connect(settings.rabbitmq_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(f"{settings.namespace}.events", "topic", durable=True)
        tap = await channel.declare_queue(exclusive=True)
        await tap.bind(exchange, "publication.*")
        published: dict[str, float] = {}
        all_published = asyncio.Event()
        first_by_channel: dict[str, list[float]] = {"platform": [], "portal": []}
        started = time.perf_counter()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            event = json.loads(message.body)
            if event["type"] == "publication.published":
                at = time.perf_counter() - started
                published[f"{event['submission_id']}:{event['data']['channel']}"] = at
                first_by_channel[event["data"]["channel"]].append(at)
                if len(published) == 2 * items:
                    all_published.set()

        await tap.consume(on_message, no_ack=True)
        for i in range(items):
            message = aio_pika.Message(
                approval(f"bench-{i}").model_dump_json().encode(),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await exchange.publish(message, routing_key="review.approved")
        await asyncio.wait_for(all_published.wait(), 600)
        elapsed = max(published.values())
        print(
            f"publish, {items} items on both channels, the platform answering in {platform_ms:g} ms: "
            f"{len(published) / elapsed:,.1f} publications/s ({len(published)} in {elapsed:.1f} s; "
            f"{items / elapsed:,.1f} items/s)"
        )
        for name, times in first_by_channel.items():
            print(f"  {name:<8} last of {len(times)} published after {max(times):.1f} s")
    finally:
        await connection.close()


def main(items: int, platform_ms: float) -> None:
    settings = Settings(
        namespace="bench" + uuid.uuid4().hex[:8],
        publish_port=18083,
        sandbox_port=18090,
        platform_url="http://127.0.0.1:18090",
        portal_base_url="http://127.0.0.1:18083",
        log_level="WARNING",
    )
    try:
        with running(settings, GONGKAI, "sandbox", "platform", ready="sandbox"):
            slow = {"delay_seconds": platform_ms / 1000}
            httpx.put(f"{settings.platform_url}/behaviour", json=slow).raise_for_status()
            with service(settings, "publish"):
                asyncio.run(measure(settings, items, platform_ms))
    finally:
        drop_databases(settings, "publish")
    print(
        "Bounded by FerretDB's committed writes (its SQLite backend commits each one to disk; the"
        "\npublish process waits on them, idle): some 25 per publication — the claim and its hints,"
        "\nthe settle with its staged event and feed entry, each relay's delivery and clearing, the"
        "\nfeed's append. The platform's 20 ms overlap (up to 32 pushes in flight): at 0 ms the"
        "\nfigure is the same."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--platform-ms", type=float, default=20)
    args = parser.parse_args()
    main(args.items, args.platform_ms)
