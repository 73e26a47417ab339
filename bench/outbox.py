"""Outbox relay throughput on the real broker and database: events staged in documents, then
published with broker confirms and cleared, as every service's relay does.

    make bench            (or: .venv/bin/python bench/outbox.py --events 2000)

Prints events per second and what bounds it. Runs in a namespace of its own, removed after.
"""

import argparse
import asyncio
import time
import uuid

import aio_pika

from shared.broker import create_broker, event_publishers
from shared.events import ItemContent, SubmissionReceived, SubmissionReceivedData, new_event
from shared.logging import configure
from shared.mongo import connect, database_of
from shared.outbox import event_relay, insert_staged, staged_list
from shared.settings import Settings

CONTENT = ItemContent(
    title="关于开展秋冬季森林防火工作的通知",
    body="各村（社区）：现将有关事项通知如下。" * 20,
    category="notice",
    channels=("platform", "portal"),
    formed_on="2026-11-02",
    department="office",
    department_name="党政办",
)


async def main(events: int) -> None:
    configure("bench", "WARNING")
    settings = Settings(namespace="bench" + uuid.uuid4().hex[:8])
    client = connect(settings)
    broker = create_broker(settings)
    publishers = event_publishers(broker, settings, [SubmissionReceived])
    collection = database_of(client, settings, "ingest").submissions
    connection = await aio_pika.connect(settings.rabbitmq_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(f"{settings.namespace}.events", "topic", durable=True)
        sink = await channel.declare_queue(f"{settings.namespace}.sink", exclusive=True)
        await sink.bind(exchange, "#")
        await broker.start()

        started = time.perf_counter()
        docs = [
            {
                "_id": f"b{i}",
                "pending_events": staged_list(
                    new_event(SubmissionReceived, f"b{i}", "bench", SubmissionReceivedData(content=CONTENT))
                ),
            }
            for i in range(events)
        ]
        for doc in docs:
            await insert_staged(collection, doc)
        staged = time.perf_counter() - started

        started = time.perf_counter()
        sent = await event_relay(publishers, [collection], settings.outbox_poll_seconds).drain()
        relayed = time.perf_counter() - started
        await asyncio.sleep(0.5)
        queued = (await channel.declare_queue(sink.name, passive=True)).declaration_result.message_count

        print(
            f"outbox: staged {events} submissions with their events in {staged:.2f}s "
            f"({events / staged:,.0f} documents/s: hint, then the document, one at a time)"
        )
        print(
            f"outbox: relayed {sent} events in {relayed:.2f}s = {sent / relayed:,.0f} events/s "
            f"(publish + broker confirm + clearing write, one at a time); {queued} reached the exchange's queue"
        )
        print("outbox: bounded by one confirmed publish and one clearing update per event, in sequence")
    finally:
        await connection.close()
        await broker.stop()
        await client.drop_database(settings.database_name("ingest"))
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    asyncio.run(main(parser.parse_args().events))
