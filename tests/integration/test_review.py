"""Review against the real broker and database: screening on arrival, decisions level by level."""

import pytest

from services.review.app import build
from shared.events import SubmissionReceived, SubmissionReceivedData, new_event
from tests.conftest import running
from tests.support import EventTap, eventually
from tests.unit.factories import content

pytestmark = pytest.mark.integration


def received(sid: str, **overrides):
    return new_event(SubmissionReceived, sid, "ingest", SubmissionReceivedData(content=content(**overrides)))


async def queue_of(http, reviewer) -> list[str]:
    return [i["submission_id"] for i in (await http.get("/v1/reviews", headers=reviewer)).json()["items"]]


async def test_a_marked_item_is_rejected_and_never_queued(settings, identities):
    first = await identities.reviewer("张三", 1)
    async with EventTap(settings) as tap, running(build(settings)) as http:
        await tap.publish(received("marked-1", body="密级：机密\n关于选址的意见"))
        [rejected] = await tap.wait_for("review.rejected", "marked-1")
        assert rejected["data"]["automatic"] is True and rejected["data"]["reason"] == "classified"
        assert rejected["data"]["findings"][0]["excerpt"] == "密级：机密"
        assert "marked-1" not in await queue_of(http, first)


async def test_two_levels_two_people_then_approved(settings, identities):
    first, second = await identities.reviewer("张三", 1), await identities.reviewer("李四", 2)
    same_person_at_two = await identities.reviewer("张三", 2)
    async with EventTap(settings) as tap, running(build(settings)) as http:
        event = received("item-1")
        await tap.publish(event)
        await tap.publish(event)  # a duplicate delivery screens nothing twice
        await eventually(lambda: queue_of(http, first), 20, "the item in the level-1 queue")
        assert await queue_of(http, second) == []
        too_early = await http.post(
            "/v1/reviews/item-1/decisions", json={"decision": "approve"}, headers=second
        )
        assert too_early.status_code == 403
        ok = await http.post("/v1/reviews/item-1/decisions", json={"decision": "approve"}, headers=first)
        assert ok.status_code == 200 and ok.json()["level"] == 2
        twice = await http.post(
            "/v1/reviews/item-1/decisions", json={"decision": "approve"}, headers=same_person_at_two
        )
        assert twice.status_code == 403 and "two levels" in twice.json()["detail"]
        ok = await http.post("/v1/reviews/item-1/decisions", json={"decision": "approve"}, headers=second)
        assert ok.json()["state"] == "approved"
        [approved] = await tap.wait_for("review.approved", "item-1")
        assert [a["reviewer"] for a in approved["data"]["approvals"]] == ["张三", "李四"]
        assert len(tap.of("review.queued", "item-1")) == 2
        late = await http.post("/v1/reviews/item-1/decisions", json={"decision": "approve"}, headers=second)
        assert late.status_code == 409


async def test_a_rejection_without_a_reason_is_refused(settings, identities):
    first = await identities.reviewer("张三", 1)
    async with EventTap(settings) as tap, running(build(settings)) as http:
        await tap.publish(received("item-2"))
        await eventually(lambda: queue_of(http, first), 20, "the item in the queue")
        answer = await http.post("/v1/reviews/item-2/decisions", json={"decision": "reject"}, headers=first)
        assert answer.status_code == 422
        assert answer.headers["content-type"].startswith("application/problem+json")


async def test_only_reviewers_see_the_queue(settings, identities):
    clerk = await identities.department()
    async with running(build(settings)) as http:
        assert (await http.get("/v1/reviews")).status_code == 401
        assert (await http.get("/v1/reviews", headers=clerk)).status_code == 403
