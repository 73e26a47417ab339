"""A database out of reach, as a service sees it (issue 11): the real review service behind a TCP
proxy that a test cuts and restores, on the real broker. Nothing may be lost, nothing may land in
a DLQ because the database was down, and a service started during the outage must come up after."""

import asyncio

import aio_pika
import pytest

from services.review.app import build
from tests.conftest import running
from tests.integration.test_review import queue_of, received
from tests.support import EventTap, Outage

pytestmark = pytest.mark.integration
OUTAGE_SECONDS = 12


async def test_events_that_arrive_while_the_database_is_down_wait_for_it_and_none_is_dead_lettered(
    settings, identities
):
    reviewer = await identities.reviewer("张三", 1)
    async with Outage(settings.mongodb_url) as outage:
        # One delivery only: a handler failure would dead-letter the event at once.
        behind = settings.model_copy(
            update={"mongodb_url": outage.url_of(settings.mongodb_url), "delivery_limit": 1}
        )
        async with EventTap(settings) as tap, running(build(behind)) as http:
            outage.cut()
            for n in range(3):
                await tap.publish(received(f"out-{n}"))
            # Longer than the client's server selection (5 s): each try of each event fails meanwhile.
            await asyncio.sleep(OUTAGE_SECONDS)
            outage.restore()
            for n in range(3):
                await tap.wait_for("review.queued", f"out-{n}", seconds=60)
            queued = await queue_of(http, reviewer)
            assert {f"out-{n}" for n in range(3)} <= set(queued)
    assert await dead_lettered(settings, "review") == 0


async def test_a_service_started_while_the_database_is_down_comes_up_once_it_answers(settings, identities):
    reviewer = await identities.reviewer("张三", 1)
    async with Outage(settings.mongodb_url) as outage:
        behind = settings.model_copy(update={"mongodb_url": outage.url_of(settings.mongodb_url)})
        outage.cut()
        asyncio.get_running_loop().call_later(OUTAGE_SECONDS, outage.restore)
        async with EventTap(settings) as tap, running(build(behind)) as http:
            await tap.publish(received("late-start"))
            await tap.wait_for("review.queued", "late-start", seconds=60)
            assert "late-start" in await queue_of(http, reviewer)


async def dead_lettered(settings, service: str) -> int:
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        dlq = await channel.declare_queue(f"{settings.namespace}.{service}.dlq", passive=True)
        return dlq.declaration_result.message_count
