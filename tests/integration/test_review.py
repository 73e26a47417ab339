"""Review against the real broker and database: screening on arrival, decisions level by level."""

import bson
import pytest

from services.review.app import build
from services.review.domain.screening import KEPT_PER_ITEM
from shared.events import Attachment, AttachmentPart, SubmissionReceived, SubmissionReceivedData, new_event
from shared.ledger import entry_key
from shared.mongo import connect, database_of
from tests.conftest import running
from tests.support import EventTap, eventually, run_cli
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
        assert twice.status_code == 403 and "两级审核" in twice.json()["detail"]
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
        unknown = await http.post(
            "/v1/reviews/no-such-item/decisions", json={"decision": "approve"}, headers=first
        )
        assert unknown.status_code == 404
        assert answer.headers["content-type"].startswith("application/problem+json")


async def test_only_reviewers_see_the_queue(settings, identities):
    clerk = await identities.department()
    async with running(build(settings)) as http:
        assert (await http.get("/v1/reviews")).status_code == 401
        assert (await http.get("/v1/reviews", headers=clerk)).status_code == 403


async def test_a_flag_is_redacted_and_the_approval_carries_the_redaction(settings, identities):
    first, second = await identities.reviewer("张三", 1), await identities.reviewer("李四", 2)
    body = "联系人：王五，电话13800138000。"
    async with EventTap(settings) as tap, running(build(settings)) as http:
        await tap.publish(received("flag-1", body=body))
        await eventually(lambda: queue_of(http, first), 20, "the flagged item in the queue")
        shown = (await http.get("/v1/reviews/flag-1", headers=first)).json()
        [flag] = shown["findings"]
        assert (flag["rule"], flag["severity"], flag["excerpt"]) == ("mobile-number", "flag", "13800138000")
        unresolved = await http.post(
            "/v1/reviews/flag-1/decisions", json={"decision": "approve"}, headers=first
        )
        assert unresolved.status_code == 422 and flag["id"] in unresolved.json()["detail"]
        redaction = {"field": "body", "start": flag["start"], "end": flag["end"]}
        ok = await http.post(
            "/v1/reviews/flag-1/decisions",
            json={"decision": "approve", "redactions": [redaction]},
            headers=first,
        )
        assert ok.status_code == 200
        await http.post("/v1/reviews/flag-1/decisions", json={"decision": "approve"}, headers=second)
        [approved] = await tap.wait_for("review.approved", "flag-1")
        assert "13800138000" not in approved["data"]["content"]["body"]
        assert approved["data"]["redactions"] == [redaction]
        assert (await http.get("/v1/reviews/flag-1", headers=first)).json()[
            "body"
        ] == body  # the original stays


async def test_every_decision_is_on_the_audit_chain_and_tampering_is_named(settings, identities):
    first, second = await identities.reviewer("张三", 1), await identities.reviewer("李四", 2)
    async with EventTap(settings) as tap, running(build(settings)) as http:
        await tap.publish(received("audit-1"))
        await eventually(lambda: queue_of(http, first), 20, "the item in the queue")
        await http.post(
            "/v1/reviews/audit-1/decisions", json={"decision": "approve", "comment": "同意"}, headers=first
        )
        await http.post("/v1/reviews/audit-1/decisions", json={"decision": "approve"}, headers=second)

        async def trail():
            items = (await http.get("/v1/audit?submission_id=audit-1", headers=first)).json()["items"]
            return items if len(items) == 3 else None

        entries = await eventually(trail, 20, "three audit entries")
        assert [(e["actor"], e["action"]) for e in entries] == [
            ("screening", "screened"),
            ("张三", "approve"),
            ("李四", "approve"),
        ]
        assert entries[1]["basis"]["comment"] == "同意"

    verified = run_cli(settings, "audit", "verify")
    assert verified.returncode == 0 and "3 entries verified" in verified.stdout
    client = connect(settings)
    try:  # someone with database access rewrites the level-1 decision
        await database_of(client, settings, "review").audit.update_one(
            {"_id": entry_key(2)}, {"$set": {"actor": "王五"}}
        )
    finally:
        await client.close()
    broken = run_cli(settings, "audit", "verify")
    assert broken.returncode == 1 and "BROKEN at entry 2" in broken.stderr


async def test_word_lists_take_effect_without_a_restart(settings, identities):
    operator, first = await identities.operator(), await identities.reviewer("张三", 1)
    async with EventTap(settings) as tap, running(build(settings)) as http:
        words = {"entries": [{"word": "拆迁补偿标准", "severity": "block", "note": "须经县政府批准"}]}
        assert (
            await http.put("/v1/wordlists/department:finance", json=words, headers=first)
        ).status_code == 403
        answer = await http.put("/v1/wordlists/department:finance", json=words, headers=operator)
        assert answer.status_code == 200 and answer.json()["version"] == 1
        await tap.publish(received("w-1", body="关于拆迁 补偿标准的说明", department="finance"))
        [rejected] = await tap.wait_for("review.rejected", "w-1")
        assert (
            rejected["data"]["reason"] == "other" and rejected["data"]["findings"][0]["rule"] == "word-list"
        )
        await tap.publish(
            received("w-2", body="关于拆迁补偿标准的说明", department="water")
        )  # not finance's list
        await tap.wait_for("review.queued", "w-2")
        bad = await http.put("/v1/wordlists/department:Bad.Code", json=words, headers=operator)
        assert bad.status_code == 422


async def test_an_item_at_every_limit_the_api_accepts_reaches_a_reviewer_in_a_small_task(
    settings, identities
):
    """1,000,000 characters of phone numbers in the body, 10 files whose parts fill the item's
    600,000-character text budget with more: screened whole, findings bounded, well under 16 MB."""
    reviewer = await identities.reviewer("张三", 1)
    numbers = "13800138000，"
    attachments = tuple(
        Attachment(
            id=f"f{n}",
            filename=f"{numbers * 8}{n}.docx",
            media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            size=1_000,
            sha256="0" * 64,
            parts=(
                AttachmentPart(kind="document", text=(numbers * 5_000)[:50_000]),
                AttachmentPart(kind="footnotes", text=(numbers * 1_000)[:10_000]),
            ),
        )
        for n in range(10)
    )
    item = received(
        "limits-1",
        title=(numbers * 20)[:200],
        body=(numbers * 100_000)[:1_000_000],
        document_number=(numbers * 10)[:100],
        attachments=attachments,
    )
    app = build(settings)
    async with EventTap(settings) as tap, running(app) as http:
        await tap.publish(item)
        await eventually(lambda: queue_of(http, reviewer), 60, "the item in the level-1 queue")
        stored = await app.state.store.tasks.find_one({"_id": "limits-1"})
        assert len(bson.encode(stored)) < 4 * 2**20  # the item's own text is most of it
        findings = stored["findings"]
        assert len(findings) <= KEPT_PER_ITEM + 50
        summary = [f for f in findings if f["id"] == "body:more:mobile-number"]
        assert summary and "另有" in summary[0]["message"]  # counted, not listed
        queue = await http.get("/v1/reviews", headers=reviewer)
        assert len(queue.content) < 200_000  # the queue carries no bodies
        shown = (await http.get("/v1/reviews/limits-1", headers=reviewer)).json()
        assert {f["name"] for f in shown["fields"]} >= {"attachments.9.footnotes", "attachments.9.filename"}
