"""Ingest against the real broker and database: one write per submission, its event on the
exchange, and a status that follows downstream events however they arrive."""

from datetime import timedelta

import pytest

from services.ingest import handlers
from services.ingest.app import build
from services.ingest.domain import SubmissionDraft
from shared.domain import china_date
from shared.events import (
    PublicationPublished,
    PublicationPublishedData,
    PublishedItem,
    ReviewApproved,
    ReviewApprovedData,
    new_event,
    utcnow,
)
from tests.conftest import running
from tests.support import EventTap, Outage, eventually
from tests.unit.factories import approval, content

pytestmark = pytest.mark.integration

ITEM = {
    "title": "关于秋季征兵的通告",
    "body": "适龄青年请按时报名。",
    "category": "notice",
    "channels": ["platform", "portal"],
    "formed_on": "2026-11-02",
}


async def test_a_submission_is_stored_and_announced(settings, identities):
    clerk = await identities.department()
    async with EventTap(settings) as tap, running(build(settings)) as http:
        answer = await http.post("/v1/submissions", json=ITEM, headers=clerk)
        assert answer.status_code == 202
        sid = answer.json()["id"]
        [event] = await tap.wait_for("submission.received", sid)
        assert event["data"]["content"]["title"] == ITEM["title"]
        assert event["data"]["content"]["department"] == "finance"
        assert event["correlation_id"] == sid
        shown = (await http.get(f"/v1/submissions/{sid}", headers=clerk)).json()
        assert shown["status"] == "received" and shown["title"] == ITEM["title"]


async def test_table_a_facts_travel_with_the_item_and_must_fit_its_category(settings, identities):
    clerk = await identities.department()
    regulation = {
        **ITEM,
        "category": "regulation",
        "regulatory_document": {"kind": "normative", "action": "issued"},
    }
    penalty = {**ITEM, "category": "penalty", "decisions": {"kind": "license", "count": 3}}
    async with EventTap(settings) as tap, running(build(settings)) as http:
        answer = await http.post("/v1/submissions", json=regulation, headers=clerk)
        assert answer.status_code == 202
        [event] = await tap.wait_for("submission.received", answer.json()["id"])
        content = event["data"]["content"]
        assert content["regulatory_document"] == {"kind": "normative", "action": "issued"}
        assert content["submitted_at"] is not None
        refused = await http.post("/v1/submissions", json=penalty, headers=clerk)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "decisions"
        misplaced = {**ITEM, "regulatory_document": {"kind": "rule", "action": "repealed"}}
        refused = await http.post("/v1/submissions", json=misplaced, headers=clerk)
        assert refused.json()["errors"][0]["field"] == "regulatory_document"
        # A township (the default GONGKAI_OFFICE_LEVEL) makes no 规章: Table A's row stays empty.
        rule = {**regulation, "regulatory_document": {"kind": "rule", "action": "issued"}}
        refused = await http.post("/v1/submissions", json=rule, headers=clerk)
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        [error] = refused.json()["errors"]
        assert error["field"] == "regulatory_document.kind" and "makes no 规章" in error["reason"]


async def test_status_follows_events_in_any_order_and_ignores_duplicates(settings, identities):
    clerk = await identities.department()
    async with EventTap(settings) as tap, running(build(settings)) as http:
        sid = (await http.post("/v1/submissions", json=ITEM, headers=clerk)).json()["id"]
        c = content()
        item = PublishedItem.of(c)
        publications = [
            new_event(
                PublicationPublished,
                sid,
                "publish",
                PublicationPublishedData(
                    channel=ch,
                    url=f"https://example.test/{ch}",
                    remote_id=sid,
                    published_at=utcnow(),
                    item=item,
                ),
            )
            for ch in ("portal", "platform")
        ]
        approval_event = new_event(
            ReviewApproved,
            sid,
            "review",
            ReviewApprovedData(revision=1, content=c, approvals=(approval(1, "a"), approval(2, "b"))),
        )
        for event in [*publications, approval_event, publications[0]]:  # late approval, a duplicate
            await tap.publish(event)

        async def published():
            body = (await http.get(f"/v1/submissions/{sid}", headers=clerk)).json()
            return body if len(body["timeline"]) >= 4 else None

        body = await eventually(published, 20, "the three events to be projected")
        assert body["status"] == "published"
        assert {p["channel"] for p in body["publications"]} == {"platform", "portal"}
        assert [e["event"] for e in body["timeline"]].count("publication.published") == 2


async def test_a_correction_is_dated_the_day_it_was_changed_never_before_the_item(settings, identities):
    """变更 restarts the clock from the correction's formed_on: a correction of a published item
    dated before the item was formed is refused (problem+json naming formed_on); one dated the
    day it was changed is taken, and its content carries that day to the channels and stats."""
    clerk = await identities.department()
    async with EventTap(settings) as tap, running(build(settings)) as http:
        sid = (await http.post("/v1/submissions", json=ITEM, headers=clerk)).json()["id"]
        approvals = (approval(1, "a"), approval(2, "b"))
        await tap.publish(
            new_event(
                ReviewApproved,
                sid,
                "review",
                ReviewApprovedData(revision=1, content=content(), approvals=approvals),
            )
        )
        item = PublishedItem.of(content())
        for ch in ("portal", "platform"):
            data = PublicationPublishedData(
                channel=ch, url="u", remote_id=sid, published_at=utcnow(), item=item
            )
            await tap.publish(new_event(PublicationPublished, sid, "publish", data))

        async def published():
            body = (await http.get(f"/v1/submissions/{sid}", headers=clerk)).json()
            return body if body["status"] == "published" else None

        await eventually(published, 20, "the item published")
        backdated = await http.put(
            f"/v1/submissions/{sid}", json={**ITEM, "formed_on": "2026-11-01"}, headers=clerk
        )
        assert backdated.status_code == 422
        assert backdated.headers["content-type"].startswith("application/problem+json")
        assert backdated.json()["errors"][0]["field"] == "formed_on"
        changed = await http.put(
            f"/v1/submissions/{sid}", json={**ITEM, "formed_on": "2026-11-20"}, headers=clerk
        )
        assert changed.status_code == 200 and changed.json()["status"] == "received"
        [revised] = await tap.wait_for("submission.revised", sid)
        assert revised["data"]["content"]["formed_on"] == "2026-11-20"


async def test_idempotency_key_replays_and_refuses_a_changed_body(settings, identities):
    clerk = await identities.department()
    async with running(build(settings)) as http:
        headers = {**clerk, "Idempotency-Key": "req-1"}
        first = await http.post("/v1/submissions", json=ITEM, headers=headers)
        again = await http.post("/v1/submissions", json=ITEM, headers=headers)
        assert first.status_code == again.status_code == 202
        assert first.json()["id"] == again.json()["id"]
        changed = await http.post("/v1/submissions", json={**ITEM, "title": "另一份"}, headers=headers)
        assert changed.status_code == 409
        assert changed.headers["content-type"].startswith("application/problem+json")


async def test_departments_see_only_their_own_items(settings, identities):
    mine, other = await identities.department("finance"), await identities.department("water", "水利站")
    operator = await identities.operator()
    async with running(build(settings)) as http:
        sid = (await http.post("/v1/submissions", json=ITEM, headers=mine)).json()["id"]
        assert (await http.get(f"/v1/submissions/{sid}", headers=other)).status_code == 404
        assert (await http.get(f"/v1/submissions/{sid}", headers=operator)).status_code == 200
        assert (await http.get("/v1/submissions", headers=other)).json()["items"] == []
        assert (await http.post(f"/v1/submissions/{sid}/withdraw", headers=other)).status_code == 404


async def test_withdrawal_is_announced_and_final(settings, identities):
    clerk = await identities.department()
    async with EventTap(settings) as tap, running(build(settings)) as http:
        sid = (await http.post("/v1/submissions", json=ITEM, headers=clerk)).json()["id"]
        answer = await http.post(
            f"/v1/submissions/{sid}/withdraw", json={"reason": "内容有误"}, headers=clerk
        )
        assert answer.status_code == 200 and answer.json()["status"] == "withdrawn"
        [event] = await tap.wait_for("submission.withdrawn", sid)
        assert event["data"]["reason"] == "内容有误"
        assert event["data"]["subject"] == {"category": "notice", "department": "finance"}
        again = await http.post(f"/v1/submissions/{sid}/withdraw", headers=clerk)
        assert again.status_code == 409


async def test_a_department_over_its_rate_is_told_when_to_come_back(settings, identities):
    # One write a minute after a burst of two: the third is told to wait the rest of that minute,
    # however long the first two took on a loaded machine (the arithmetic: tests/unit's RateLimiter).
    limited = settings.model_copy(update={"ingest_writes_per_minute": 1, "ingest_write_burst": 2})
    clerk, other = await identities.department(), await identities.department("water", "水利站")
    async with running(build(limited)) as http:
        answers = [await http.post("/v1/submissions", json=ITEM, headers=clerk) for _ in range(3)]
        assert [a.status_code for a in answers] == [202, 202, 429]
        assert 0 < int(answers[2].headers["retry-after"]) <= 60
        assert answers[2].headers["content-type"].startswith("application/problem+json")
        assert (await http.post("/v1/submissions", json=ITEM, headers=other)).status_code == 202


async def test_an_idempotency_key_is_forgotten_after_its_time(settings, identities):
    clerk = await identities.department()
    app = build(settings)
    async with running(app) as http:
        headers = {**clerk, "Idempotency-Key": "weekly-report"}
        first = await http.post("/v1/submissions", json=ITEM, headers=headers)
        replay = await http.post("/v1/submissions", json=ITEM, headers=headers)
        assert replay.json()["id"] == first.json()["id"] and replay.headers["idempotent-replayed"] == "true"
        # Its time runs out: aged in the store, since a real clock would make the test race the load.
        keys = app.state.store.idempotency_keys
        await keys.update_many({}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}})
        later = await http.post("/v1/submissions", json={**ITEM, "title": "下一周的报告"}, headers=headers)
        assert later.status_code == 202 and later.json()["id"] != first.json()["id"]
        assert await app.state.store.forget_expired_keys() == 0  # the expired one was replaced, not kept


async def test_a_retry_stores_a_submission_whose_first_attempt_died_after_claiming_its_key(
    settings, identities
):
    clerk = await identities.department()
    app = build(settings)
    async with running(app) as http:
        store = app.state.store
        # What a process that died between the key and the submission left behind:
        fingerprint = handlers._fingerprint(SubmissionDraft.model_validate(ITEM))
        claimed = await store.claim_idempotency_key(
            "finance:retry-1", "6b0a00000000000000000001", fingerprint, 24
        )
        answer = await http.post(
            "/v1/submissions", json=ITEM, headers={**clerk, "Idempotency-Key": "retry-1"}
        )
        assert answer.status_code == 202 and answer.json()["id"] == claimed["submission_id"]
        assert (
            await http.get(f"/v1/submissions/{claimed['submission_id']}", headers=clerk)
        ).status_code == 200


async def test_listing_pages_are_stable_and_filter_by_day(settings, identities):
    clerk = await identities.department()
    async with running(build(settings)) as http:
        made = [
            (await http.post("/v1/submissions", json={**ITEM, "title": f"通知{i}"}, headers=clerk)).json()[
                "id"
            ]
            for i in range(5)
        ]
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await http.get("/v1/submissions", params=params, headers=clerk)).json()
            seen += [i["id"] for i in page["items"]]
            if cursor is None:  # a new item while paging must not shift the pages
                await http.post("/v1/submissions", json={**ITEM, "title": "新到的"}, headers=clerk)
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == list(reversed(made))
        today = china_date(utcnow())
        tomorrow = (today + timedelta(days=1)).isoformat()
        assert (await http.get(f"/v1/submissions?submitted_from={tomorrow}", headers=clerk)).json()[
            "items"
        ] == []
        todays = (
            await http.get(f"/v1/submissions?submitted_to={today.isoformat()}&limit=200", headers=clerk)
        ).json()
        assert len(todays["items"]) == 6
        assert (await http.get("/v1/submissions?cursor=not-a-cursor", headers=clerk)).status_code == 422


async def test_a_database_outage_is_answered_503_with_retry_after_and_passes(settings, identities):
    """Issue 11: a database out of reach is the caller's cue to come back (503, Retry-After,
    problem+json), never a 500; once it is back, the same request succeeds."""
    clerk = await identities.department()
    async with Outage(settings.mongodb_url) as outage:
        behind = settings.model_copy(update={"mongodb_url": outage.url_of(settings.mongodb_url)})
        async with running(build(behind)) as http:
            assert (await http.get("/v1/submissions", headers=clerk)).status_code == 200
            outage.cut()
            out = await http.get("/v1/submissions", headers=clerk)
            assert out.status_code == 503 and out.headers["retry-after"] == "5"
            assert out.headers["content-type"].startswith("application/problem+json")
            outage.restore()
            assert (await http.get("/v1/submissions", headers=clerk)).status_code == 200
