"""Stats against the real broker and database: every event counted once."""

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
from tests.support import EventTap, eventually
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
