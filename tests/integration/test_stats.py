"""Stats against the real broker and database: every event counted once."""

import asyncio
from datetime import date

import pytest

from services.stats.app import build
from shared.events import (
    PublicationPublished,
    PublicationPublishedData,
    PublishedItem,
    ReviewRejected,
    ReviewRejectedData,
    SubmissionReceived,
    SubmissionReceivedData,
    new_event,
    utcnow,
)
from tests.conftest import running
from tests.support import EventTap, eventually, run_cli
from tests.unit.factories import content

pytestmark = pytest.mark.integration


def published(sid: str, channel: str):
    item = PublishedItem(
        title="t", category="budget", department="finance", department_name="财政所", formed_on=date.today()
    )
    data = PublicationPublishedData(channel=channel, url="u", remote_id=sid, published_at=utcnow(), item=item)
    return new_event(PublicationPublished, sid, "publish", data)


async def test_each_event_counts_once_even_when_delivered_twice(settings):
    events = [
        new_event(SubmissionReceived, "s-1", "ingest", SubmissionReceivedData(content=content())),
        new_event(SubmissionReceived, "s-2", "ingest", SubmissionReceivedData(content=content())),
        new_event(
            ReviewRejected,
            "s-2",
            "review",
            ReviewRejectedData(revision=1, automatic=True, reason="classified"),
        ),
        published("s-1", "platform"),
        published("s-1", "portal"),
    ]
    async with EventTap(settings) as tap, running(build(settings)) as http:
        for event in events + events:  # everything twice, concurrently in flight
            await tap.publish(event)

        async def settled():
            figures = (await http.get("/v1/stats")).json()
            return (
                figures if figures["published"]["total"] >= 2 and figures["review"]["auto_blocked"] else None
            )

        figures = await eventually(settled, 20, "the events to be counted")
        await eventually(lambda: True, 1)  # let any duplicate still in flight land
        figures = (await http.get("/v1/stats")).json()
        assert figures["published"]["total"] == 2
        assert figures["published"]["items"] == 1
        assert figures["published"]["by_channel"] == {"platform": 1, "portal": 1}
        assert figures["published"]["by_department"] == {"finance": 2}
        assert figures["submissions"]["received"] == 2
        assert figures["submissions"]["rejected"] == 1
        assert figures["review"]["auto_blocked"] == 1
        assert figures["timeliness"]["on_time"] == 1


async def test_a_rebuilt_year_equals_the_live_one_after_duplicates_and_disorder(settings):
    formed = date.today()
    events = [
        new_event(SubmissionReceived, f"s-{i}", "ingest", SubmissionReceivedData(content=content()))
        for i in range(3)
    ]
    events += [published(f"s-{i}", channel) for i in range(3) for channel in ("platform", "portal")]
    events.append(
        new_event(
            ReviewRejected,
            "s-9",
            "review",
            ReviewRejectedData(revision=1, automatic=True, reason="classified"),
        )
    )
    shuffled = events + events[::-1] + events[::2]  # duplicates, in other orders
    app = build(settings)
    async with EventTap(settings) as tap, running(app) as http:
        for event in shuffled:
            await tap.publish(event)

        async def settled():
            archived = await app.state.store.events.count_documents({})
            return archived == len(events)

        await eventually(settled, 30, "every event archived")
        await asyncio.sleep(0.5)
        live = (await http.get("/v1/stats")).json()

    rebuilt = run_cli(settings, "stats", "rebuild")
    assert rebuilt.returncode == 0 and f"{formed.year}: 6 publications of 3 items rebuilt" in rebuilt.stdout
    async with running(build(settings)) as http:
        assert (await http.get("/v1/stats")).json() == live
    assert live["published"]["total"] == 6 and live["published"]["items"] == 3
    assert live["submissions"]["received"] == 3 and live["review"]["auto_blocked"] == 1
