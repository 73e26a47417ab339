"""Attachments against the real database and broker: uploaded, judged by content, read, carried
with the item to review, and served once the item is public."""

import hashlib
from datetime import timedelta

import pytest

from services.ingest.app import build
from services.review.app import build as build_review
from shared.events import (
    ItemContent,
    PublicationPublished,
    PublicationPublishedData,
    PublishedItem,
    new_event,
    utcnow,
)
from tests.conftest import running
from tests.documents import pdf, png
from tests.hostile import docx_with, footnotes, zip_bomb
from tests.integration.test_ingest import ITEM
from tests.support import EventTap, eventually

pytestmark = pytest.mark.integration


async def test_files_are_judged_by_content_and_travel_with_their_item(settings, identities):
    clerk = await identities.department()
    other = await identities.department("office", "党政办")
    reviewer = await identities.reviewer("审查员", 1)
    report = pdf("二〇二六年秋季防火检查情况")
    async with EventTap(settings) as tap, running(build(settings)) as http:
        files = [
            ("files", ("检查情况.png", report, "image/png")),  # a PDF, whatever its name and type say
            ("files", ("现场.png", png(), "image/png")),
        ]
        uploaded = await http.post("/v1/attachments", files=files, headers=clerk)
        assert uploaded.status_code == 201, uploaded.text
        assert "location" not in uploaded.headers  # two files: no one resource to name
        first, second = uploaded.json()["items"]
        assert first["media_type"] == "application/pdf" and first["text_chars"] == len(
            "二〇二六年秋季防火检查情况"
        )
        assert first["parts"] == [{"kind": "document", "label": "正文", "chars": first["text_chars"]}]
        assert first["sha256"] == hashlib.sha256(report).hexdigest() and first["size"] == len(report)
        assert second["media_type"] == "image/png" and "人工查看" in second["unread"]

        refused = await http.post(
            "/v1/attachments",
            files=[("files", ("ok.pdf", report)), ("files", ("run.pdf", b"MZ\x90"))],
            headers=clerk,
        )
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "files.1"
        assert "run.pdf" in refused.json()["errors"][0]["reason"]
        as_json = await http.post("/v1/attachments", json={"file": "x"}, headers=clerk)
        assert as_json.status_code == 415

        borrowed = await http.post(
            "/v1/submissions", json={**ITEM, "attachments": [first["id"]]}, headers=other
        )
        assert borrowed.status_code == 422 and borrowed.json()["errors"][0]["field"] == "attachments.0"

        answer = await http.post(
            "/v1/submissions", json={**ITEM, "attachments": [first["id"], second["id"]]}, headers=clerk
        )
        assert answer.status_code == 202, answer.text
        sid = answer.json()["id"]
        assert [a["filename"] for a in answer.json()["attachments"]] == ["检查情况.png", "现场.png"]
        [event] = await tap.wait_for("submission.received", sid)
        sent = event["data"]["content"]["attachments"]
        assert sent[0]["parts"] == [{"kind": "document", "text": "二〇二六年秋季防火检查情况"}]
        assert sent[1]["unread"]

        again = await http.post("/v1/submissions", json={**ITEM, "attachments": [first["id"]]}, headers=clerk)
        assert again.status_code == 409  # one file, one submission

        url = f"/v1/attachments/{first['id']}"
        assert (await http.get(url)).status_code == 404  # not public before it is published
        assert (await http.get(url, headers=other)).status_code == 404
        mine = await http.get(url, headers=clerk)
        assert mine.status_code == 200 and mine.content == report
        assert (await http.get(url, headers=reviewer)).status_code == 200

        item = PublishedItem.of(content_of(event))
        data = PublicationPublishedData(
            channel="portal", url="u", remote_id=sid, published_at=utcnow(), item=item
        )
        await tap.publish(new_event(PublicationPublished, sid, "publish", data))

        async def public():
            answer = await http.get(url)
            return answer if answer.status_code == 200 else None

        download = await eventually(public, 20, "the attachment public once its item is published")
        assert download.content == report
        assert download.headers["content-type"] == "application/pdf"
        assert download.headers["x-content-type-options"] == "nosniff"
        assert "filename*=UTF-8''%E6%A3%80" in download.headers["content-disposition"]


def content_of(event: dict) -> ItemContent:
    return ItemContent.model_validate(event["data"]["content"])


async def test_an_item_whose_only_marking_is_in_a_docx_footnote_is_blocked_at_review(settings, identities):
    clerk = await identities.department()
    report = docx_with(**{"word/footnotes.xml": footnotes("注：本意见为机密★5年")})
    async with running(build(settings)) as http, running(build_review(settings)):
        uploaded = await http.post("/v1/attachments", files=[("files", ("意见.docx", report))], headers=clerk)
        assert uploaded.status_code == 201, uploaded.text
        [shown] = uploaded.json()["items"]
        assert [(p["kind"], p["label"]) for p in shown["parts"]] == [
            ("document", "正文"),
            ("footnotes", "脚注"),
        ]
        answer = await http.post(
            "/v1/submissions", json={**ITEM, "attachments": [shown["id"]]}, headers=clerk
        )
        assert answer.status_code == 202, answer.text

        async def rejected():
            item = (await http.get(f"/v1/submissions/{answer.json()['id']}", headers=clerk)).json()
            return item if item["status"] == "rejected" else None

        item = await eventually(rejected, 30, "the item rejected at review")
        assert item["review"]["automatic"] is True and item["review"]["reason"] == "classified"
        assert [f["field"] for f in item["review"]["findings"]] == ["attachments.0.footnotes"]


async def test_a_zip_bomb_is_refused_with_a_problem_naming_the_file(settings, identities):
    clerk = await identities.department()
    async with running(build(settings)) as http:
        answer = await http.post(
            "/v1/attachments", files=[("files", ("报告.docx", zip_bomb()))], headers=clerk
        )
        assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
        [error] = answer.json()["errors"]
        assert (
            error["field"] == "files.0" and "报告.docx" in error["reason"] and "zip bomb" in error["reason"]
        )


async def test_a_department_holds_uploads_within_its_quota_and_unattached_ones_expire(settings, identities):
    clerk = await identities.department()
    one_mb = settings.model_copy(update={"attachment_quota_mb": 1})
    report = pdf("二〇二六年秋季防火检查情况" * 2000)
    fits = 2**20 // len(report)
    app = build(one_mb)
    async with running(app) as http:
        upload = [("files", (f"报告{n}.pdf", report)) for n in range(fits)]
        assert (await http.post("/v1/attachments", files=upload, headers=clerk)).status_code == 201
        over = await http.post("/v1/attachments", files=[("files", ("多一份.pdf", report))], headers=clerk)
        assert over.status_code == 413 and over.headers["content-type"] == "application/problem+json"
        [error] = over.json()["errors"]
        assert error["field"] == "files" and "1 MB" in error["reason"]

        store = app.state.store
        records = store.attachment_records
        [attached_id, *others] = [str(r["_id"]) for r in await records.find({}, {"_id": 1}).to_list()]
        # 128 random bits each: one id tells nothing of the others.
        assert all(len(i) == 32 and int(i, 16) >= 0 for i in [attached_id, *others])
        assert len({i[:8] for i in [attached_id, *others]}) == len(others) + 1
        made = await http.post("/v1/submissions", json={**ITEM, "attachments": [attached_id]}, headers=clerk)
        assert made.status_code == 202, made.text
        # A day passes (aged in the store: a test never races a real clock).
        await records.update_many({}, {"$set": {"uploadDate": utcnow() - timedelta(hours=25)}})
        assert await store.forget_unattached(one_mb.attachment_unattached_hours) == len(others)
        assert [str(r["_id"]) for r in await records.find({}, {"_id": 1}).to_list()] == [attached_id]
        assert await store.attachment_chunks.count_documents({"files_id": {"$ne": attached_id}}) == 0
        late = await http.post("/v1/submissions", json={**ITEM, "attachments": [others[0]]}, headers=clerk)
        assert late.status_code == 422 and late.json()["errors"][0]["field"] == "attachments.0"
        again = await http.post("/v1/attachments", files=[("files", ("多一份.pdf", report))], headers=clerk)
        assert again.status_code == 201  # the quota counts what waits, not what was attached
        assert again.headers["location"] == f"/v1/attachments/{again.json()['items'][0]['id']}"
