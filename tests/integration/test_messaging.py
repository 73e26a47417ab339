"""The outbox and the dead-letter queues on the real broker: nothing staged is lost, a poison
message never blocks its queue."""

import contextlib
import json
from datetime import timedelta

import aio_pika
import pytest

from shared.broker import create_broker, event_publishers
from shared.events import SubmissionReceived, SubmissionReceivedData, new_event, utcnow
from shared.mongo import connect, database_of
from shared.outbox import EVENTS, Relay, board_of, event_relay, hint, insert_staged, staged_list
from shared.service import subscribe
from shared.topology import declare, topology_of
from tests.support import EventTap, eventually, run_cli
from tests.unit.factories import content

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def outbox(settings):
    """A started broker with a publisher of submission.received, and ingest's collection."""
    client = connect(settings)
    broker = create_broker(settings)
    publishers = event_publishers(broker, settings, [SubmissionReceived])
    try:
        await broker.start()
        yield database_of(client, settings, "ingest").submissions, publishers
    finally:
        await broker.stop()
        await client.close()


async def test_the_relay_sends_what_was_staged_and_resends_after_a_crash(settings):
    """A process that died after publishing but before clearing sends the event again; consumers
    are idempotent, so at-least-once is safe, and nothing staged is ever lost."""
    event = new_event(SubmissionReceived, "o-1", "ingest", SubmissionReceivedData(content=content()))
    async with EventTap(settings, "submission.*") as tap, outbox(settings) as (collection, publishers):
        await insert_staged(collection, {"_id": "o-1", "pending_events": staged_list(event)})
        relay = event_relay(publishers, [collection], settings.outbox_poll_seconds)
        assert await relay.drain() == 1
        assert (await collection.find_one({"_id": "o-1"}))["pending_events"] == []
        assert await board_of(collection).collection.count_documents({}) == 0
        await tap.wait_for("submission.received", "o-1")
        # What a process that died between the broker's confirm and the clearing write left
        # behind: the event still waiting, its hint still there.
        await collection.update_one({"_id": "o-1"}, {"$set": {"pending_events": staged_list(event)}})
        await hint(collection, "o-1")
        assert await event_relay(publishers, [collection], settings.outbox_poll_seconds).drain() == 1
        sent = await tap.wait_for("submission.received", "o-1", count=2)
        assert {e["event_id"] for e in sent} == {str(event.event_id)}


@contextlib.asynccontextmanager
async def consuming(settings, service: str, handle):
    """`handle` as the service's consumer on the real broker; yields the exchange and a channel."""
    broker = create_broker(settings)
    subscribe(broker, service, settings, handle)
    await broker.connect()
    await declare(broker, topology_of(service, settings))
    await broker.start()
    connection = await aio_pika.connect(settings.rabbitmq_url)
    try:
        channel = await connection.channel()
        yield await channel.get_exchange(f"{settings.namespace}.events"), channel
    finally:
        await connection.close()
        await broker.stop()


async def test_a_poison_message_goes_to_the_dead_letter_queue(settings):
    handled = []

    async def handle(event):
        handled.append(event)

    async with consuming(settings, "review", handle) as (exchange, channel):
        await exchange.publish(
            aio_pika.Message(b'{"type": "submission.received", "data": 1}'), "submission.received"
        )
        good = new_event(SubmissionReceived, "d-1", "ingest", SubmissionReceivedData(content=content()))
        await exchange.publish(aio_pika.Message(good.model_dump_json().encode()), "submission.received")
        await eventually(lambda: handled, 20, "the good message after the poison one")
        dlq = await channel.get_queue(f"{settings.namespace}.review.dlq")
        message = await eventually(lambda: dlq.get(fail=False), 20, "the poison message in the DLQ")
        assert json.loads(message.body)["data"] == 1
        await message.ack()


async def test_a_failing_handler_is_retried_up_to_the_delivery_limit_then_dead_lettered(settings):
    attempts = []

    async def handle(event):
        attempts.append(event.event_id)
        raise RuntimeError("the database is down")

    async with consuming(settings, "stats", handle) as (exchange, channel):
        event = new_event(SubmissionReceived, "r-1", "ingest", SubmissionReceivedData(content=content()))
        await exchange.publish(aio_pika.Message(event.model_dump_json().encode()), "submission.received")
        dlq = await channel.get_queue(f"{settings.namespace}.stats.dlq")
        message = await eventually(lambda: dlq.get(fail=False), 30, "the failing message in the DLQ")
        assert json.loads(message.body)["event_id"] == str(event.event_id)
        assert len(attempts) == settings.delivery_limit + 1  # the first delivery and its redeliveries
        await message.ack()


async def test_events_waiting_without_a_hint_are_found_at_start(settings):
    """Documents written before hints existed (or by hand) are not forgotten."""
    event = new_event(SubmissionReceived, "h-1", "ingest", SubmissionReceivedData(content=content()))
    async with EventTap(settings, "submission.*") as tap, outbox(settings) as (collection, publishers):
        await collection.insert_one({"_id": "h-1", "pending_events": staged_list(event)})
        relay = event_relay(publishers, [collection], settings.outbox_poll_seconds)
        assert await relay.drain() == 0
        await relay.recover_hints()
        assert await relay.drain() == 1
        await tap.wait_for("submission.received", "h-1")


async def test_an_operator_lists_the_dead_letters_and_replays_them_once_the_cause_is_fixed(settings):
    event = new_event(SubmissionReceived, "dl-1", "ingest", SubmissionReceivedData(content=content()))

    async def broken(_):
        raise RuntimeError("the database is down")

    async with consuming(settings, "stats", broken) as (exchange, channel):
        await exchange.publish(aio_pika.Message(event.model_dump_json().encode()), "submission.received")
        dlq = await channel.get_queue(f"{settings.namespace}.stats.dlq")

        async def dead_lettered():
            queue = await channel.declare_queue(dlq.name, passive=True)
            return queue.declaration_result.message_count == 1

        await eventually(dead_lettered, 30, "the message in the DLQ")

    listed = run_cli(settings, "dlq", "list", "stats", "--json")
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (row["event_id"], row["type"], row["submission_id"]) == (
        str(event.event_id),
        "submission.received",
        "dl-1",
    )
    assert row["reason"] == "delivery_limit"  # tried GONGKAI_DELIVERY_LIMIT times, then dead-lettered

    handled = []

    async def fixed(e):
        handled.append(e)

    async with consuming(settings, "stats", fixed):
        replayed = run_cli(settings, "dlq", "replay", "stats")
        assert replayed.returncode == 0 and "replayed 1 message(s) to stats; 0 left" in replayed.stdout
        await eventually(lambda: handled, 20, "the replayed event handled")
        assert handled[0].event_id == event.event_id


async def test_a_hint_whose_document_is_still_being_written_is_kept(settings):
    """The relay may read a hint between its writer's hint and insert; it must not drop it."""
    event = new_event(SubmissionReceived, "race-1", "ingest", SubmissionReceivedData(content=content()))
    async with EventTap(settings, "submission.*") as tap, outbox(settings) as (collection, publishers):
        relay = event_relay(publishers, [collection], settings.outbox_poll_seconds)
        board = board_of(collection).collection
        mark = await hint(collection, "race-1")  # the writer has hinted; its insert has not landed yet
        assert await relay.drain() == 0
        assert await board.count_documents({"_id": "race-1"}) == 1
        await collection.insert_one({"_id": "race-1", "pending_events": staged_list(event), **mark})
        assert await relay.drain() == 1
        await tap.wait_for("submission.received", "race-1")
        # A hint whose document never came (its writer died) is dropped once it is stale.
        await board.insert_one({"_id": "ghost", "nonce": "n", "at": utcnow() - timedelta(hours=1)})
        await relay.drain()
        assert await board.count_documents({}) == 0


async def test_a_hint_marked_again_while_its_document_is_being_written_is_kept(settings):
    """The relay may read a document between a writer's mark and its write (no lock keeps them
    together): having delivered what it read, it must keep the hint for the write still to land."""
    first = new_event(SubmissionReceived, "race-2", "ingest", SubmissionReceivedData(content=content()))
    second = new_event(SubmissionReceived, "race-2", "ingest", SubmissionReceivedData(content=content()))
    async with EventTap(settings, "submission.*") as tap, outbox(settings) as (collection, publishers):
        relay = event_relay(publishers, [collection], settings.outbox_poll_seconds)
        await insert_staged(collection, {"_id": "race-2", "pending_events": staged_list(first)})
        mark = await hint(collection, "race-2")  # a second writer has marked; its write has not landed
        assert await relay.drain() == 1
        assert await board_of(collection).collection.count_documents({"_id": "race-2"}) == 1
        staging = {"$push": {"pending_events": {"$each": staged_list(second)}}, "$set": mark}
        await collection.update_one({"_id": "race-2"}, staging)
        assert await relay.drain() == 1
        assert await board_of(collection).collection.count_documents({}) == 0
        sent = await tap.wait_for("submission.received", "race-2", count=2)
        assert [e["event_id"] for e in sent] == [str(first.event_id), str(second.event_id)]


async def test_an_item_that_cannot_be_delivered_holds_up_no_other_document(settings):
    """One document's event refused (by the broker, say) is tried again later, after a backoff;
    the documents hinted after it are delivered meanwhile, and it is delivered once it can be."""
    delivered, refusing = [], {"stuck"}

    async def deliver(raw: dict) -> None:
        if raw["submission_id"] in refusing:
            raise RuntimeError("NO_ROUTE: no queue takes it")
        delivered.append(raw["submission_id"])

    async with outbox(settings) as (collection, _):
        for sid in ("stuck", "fine-1", "fine-2"):  # hinted in this order: the stuck one first
            event = new_event(SubmissionReceived, sid, "ingest", SubmissionReceivedData(content=content()))
            await insert_staged(collection, {"_id": sid, "pending_events": staged_list(event)})
        relay = Relay(EVENTS, deliver, [collection], settings.outbox_poll_seconds)
        assert await relay.drain() == 2
        assert delivered == ["fine-1", "fine-2"]
        board = board_of(collection).collection
        postponed = await board.find_one({"_id": "stuck"})
        assert postponed["failures"] == 1 and postponed["at"] > utcnow()
        assert len((await collection.find_one({"_id": "stuck"}))["pending_events"]) == 1  # kept
        refusing.clear()
        await board.update_one({"_id": "stuck"}, {"$set": {"at": utcnow()}})  # its backoff is over
        assert await relay.drain() == 1
        assert delivered == ["fine-1", "fine-2", "stuck"]
        assert await board.count_documents({}) == 0
