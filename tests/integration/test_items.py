"""The public item resource at /v1/items/{id}, against the real broker and database: what a
republisher reads of an item published on two channels, corrected and withdrawn, checked against
the JSON Schema publish serves."""

import asyncio

import httpx
import jsonschema
import pytest

from services.publish.app import build
from shared.events import Attachment, SubmissionWithdrawn, SubmissionWithdrawnData, new_event
from tests.conftest import running
from tests.integration.test_publish import approved, platform  # noqa: F401 (a fixture)
from tests.support import EventTap, eventually

pytestmark = pytest.mark.integration
FILE = Attachment(id="b" * 24, filename="附件.pdf", media_type="application/pdf", size=10, sha256="1" * 64)


async def test_an_item_reads_the_same_whole_resource_through_its_life(settings, platform):  # noqa: F811
    settings = settings.model_copy(update={"platform_url": platform})
    async with EventTap(settings) as tap, running(build(settings)) as http, httpx.AsyncClient():
        schema = (await http.get("/v1/schemas/item.json")).json()
        assert schema["$id"] == "urn:gongkai:schema:item:1"
        await tap.publish(
            approved(
                "i-1",
                title="原标题",
                body="**第一段**\n\n第二段",
                document_number="某政发〔2026〕1号",
                attachments=(FILE,),
            )
        )

        async def on_both():
            answer = await http.get("/v1/items/i-1")
            return answer if answer.status_code == 200 and len(answer.json()["channels"]) == 2 else None

        item = (await eventually(on_both, 20, "the item on both channels")).json()
        jsonschema.validate(item, schema, cls=jsonschema.Draft202012Validator)
        assert (item["id"], item["revision"], item["state"], item["title"]) == (
            "i-1",
            1,
            "published",
            "原标题",
        )
        assert item["body_html"] == "<p><strong>第一段</strong></p>\n<p>第二段</p>\n"
        assert item["body_text"] == "第一段\n\n第二段" and item["summary"] == "第一段 第二段"
        assert item["document_number"] == "某政发〔2026〕1号" and item["department_name"] == "党政办"
        assert {c["channel"]: c["url"].endswith("/i-1") for c in item["channels"]} == {
            "platform": True,
            "portal": True,
        }
        assert item["attachments"][0]["sha256"] == "1" * 64
        assert item["attachments"][0]["url"].endswith(f"/v1/attachments/{FILE.id}")

        corrected = approved("i-1", title="更正后的标题", attachments=(FILE,))
        await tap.publish(
            corrected.model_copy(update={"data": corrected.data.model_copy(update={"revision": 2})})
        )

        async def corrected_on_both():
            answer = (await http.get("/v1/items/i-1")).json()
            return answer if {c["revision"] for c in answer["channels"]} == {2} else None

        item = await eventually(corrected_on_both, 20, "the correction on both channels")
        assert (item["revision"], item["title"]) == (2, "更正后的标题")
        assert item["updated_at"] > item["first_published_at"]
        jsonschema.validate(item, schema, cls=jsonschema.Draft202012Validator)

        await tap.publish(
            new_event(SubmissionWithdrawn, "i-1", "ingest", SubmissionWithdrawnData(withdrawn_by="office"))
        )
        await tap.wait_for("publication.withdrawn", "i-1", count=2)

        async def withdrawn_item():  # the item is folded from its channels' changes just after them
            answer = await http.get("/v1/items/i-1")
            return answer if answer.status_code == 410 else None

        gone = await eventually(withdrawn_item, 10, "the item withdrawn")
        assert gone.headers["content-type"] == "application/problem+json"
        withdrawn = gone.json()["item"]
        jsonschema.validate(withdrawn, schema, cls=jsonschema.Draft202012Validator)
        assert sorted(withdrawn["remove"]["urls"]) == sorted(c["url"] for c in item["channels"])
        assert withdrawn["remove"]["attachments"] == [
            {"id": FILE.id, "url": item["attachments"][0]["url"], "sha256": "1" * 64}
        ]
        assert "更正" not in gone.text

        assert (await http.get("/v1/items/nothing-here")).status_code == 404
        refused = await http.get("/v1/items/%24where")
        assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"


async def test_items_published_before_items_were_kept_become_known_on_upgrade(
    settings,
    platform,  # noqa: F811
    monkeypatch,
):
    settings = settings.model_copy(update={"platform_url": platform})
    with monkeypatch.context() as before:  # the version before: publications, and no items kept
        before.setattr("services.publish.store.channel_change", lambda *_: None)
        before.setattr("services.publish.store.ItemStore.know_standing", _nothing)
        async with EventTap(settings) as tap, running(build(settings)) as http:
            await tap.publish(approved("old-1", title="升级前发布的"))
            await tap.wait_for("publication.published", "old-1", count=2)
            assert (await http.get("/v1/items/old-1")).status_code == 404
    async with running(build(settings)) as http:
        item = (await http.get("/v1/items/old-1")).json()
        assert (item["title"], sorted(c["channel"] for c in item["channels"])) == (
            "升级前发布的",
            ["platform", "portal"],
        )

        async def announced():
            entries = (await http.get("/v1/published")).json()["items"]
            return [e["type"] for e in entries if e["submission_id"] == "old-1"]

        assert await eventually(announced, 10, "the item announced") == ["item.published"]
        await asyncio.sleep(0.5)
        assert await announced() == ["item.published"]  # once, though both channels were folded


async def _nothing(*_) -> None:
    return None
