"""The item resource: channels' changes folded into one item, announced once per change of the
item, and the resource valid against its published JSON Schema."""

import json
from datetime import UTC, datetime

import jsonschema

from services.publish.items import (
    applied,
    json_schema,
    new_item,
    plain_text,
    public_content,
    resource_of,
    summary_of,
)
from shared.events import Attachment, AttachmentPart
from tests.support import ROOT
from tests.unit.factories import content

AT = datetime(2026, 11, 5, 8, tzinfo=UTC).isoformat()
LATER = datetime(2026, 11, 6, 8, tzinfo=UTC).isoformat()
FILE = Attachment(
    id="a" * 24,
    filename="预算表.pdf",
    media_type="application/pdf",
    size=2048,
    sha256="0" * 64,
    parts=(AttachmentPart(kind="document", text="screened text, never published"),),
)


def live(channel: str, revision: int = 1, at: str = AT, record: str = "r", **overrides) -> dict:
    return {
        "record_id": f"{record}-{channel}-{revision}",
        "submission_id": "s1",
        "channel": channel,
        "live": True,
        "at": at,
        "revision": revision,
        "url": f"https://{channel}.example/items/s1",
        "content": public_content(content(attachments=(FILE,), **overrides)),
    }


def off(channel: str, at: str = LATER) -> dict:
    return {
        "record_id": f"off-{channel}",
        "submission_id": "s1",
        "channel": channel,
        "live": False,
        "at": at,
        "revision": 1,
    }


def fold(doc: dict, change: dict) -> tuple[dict, dict | None]:
    result = applied(doc, change)
    assert result is not None
    fields, entry = result
    return {**doc, **fields}, entry


def test_an_item_on_two_channels_is_announced_once_and_each_change_of_it_once():
    doc, entry = fold(new_item("s1"), live("portal"))
    assert (entry["kind"], entry["revision"], entry["timestamp"]) == ("item.published", 1, AT)
    doc, entry = fold(doc, live("platform"))
    assert entry is None and set(doc["channels"]) == {"portal", "platform"}
    assert applied(doc, live("platform")) is None  # delivered twice: no change

    doc, entry = fold(doc, live("platform", 2, LATER, title="更正后的标题"))
    assert (entry["kind"], entry["revision"]) == ("item.updated", 2)
    assert doc["content"]["title"] == "更正后的标题" and doc["updated_at"] == LATER
    doc, entry = fold(doc, live("portal", 2, LATER, title="更正后的标题"))
    assert entry is None

    doc, entry = fold(doc, off("portal"))
    assert entry["kind"] == "item.withdrawn" and doc["state"] == "withdrawn"
    doc, entry = fold(doc, off("platform"))
    assert entry is None
    assert applied(doc, off("platform")) is None


def test_the_resource_carries_the_text_files_and_live_channels_and_never_what_screening_read():
    doc, _ = fold(new_item("s1"), live("portal", body="**请注意**：第一行\n第二行"))
    doc, _ = fold(doc, live("platform", body="**请注意**：第一行\n第二行"))
    item = resource_of(doc, "https://files.example/").model_dump(mode="json")
    assert item["body_html"].startswith("<p><strong>请注意</strong>：第一行<br")
    assert item["body_text"] == "请注意：第一行\n第二行"
    assert [c["channel"] for c in item["channels"]] == ["platform", "portal"]
    assert item["attachments"] == [
        {
            "id": FILE.id,
            "name": "预算表.pdf",
            "media_type": "application/pdf",
            "size": 2048,
            "sha256": "0" * 64,
            "url": f"https://files.example/v1/attachments/{FILE.id}",
        }
    ]
    assert "screened text" not in json.dumps(item, ensure_ascii=False)
    assert item["first_published_at"] == item["updated_at"] == "2026-11-05T08:00:00Z"
    jsonschema.validate(item, json_schema(), cls=jsonschema.Draft202012Validator)


def test_a_withdrawn_item_names_what_must_be_removed_and_nothing_of_its_text():
    doc, _ = fold(new_item("s1"), live("portal", title="泄露了的标题"))
    doc, _ = fold(doc, live("platform", title="泄露了的标题"))
    doc, _ = fold(doc, off("platform"))
    gone = resource_of(doc, "https://files.example").model_dump(mode="json")
    assert gone["state"] == "withdrawn" and gone["withdrawn_at"] == "2026-11-06T08:00:00Z"
    assert gone["remove"]["urls"] == ["https://platform.example/items/s1", "https://portal.example/items/s1"]
    assert gone["remove"]["attachments"][0]["sha256"] == "0" * 64
    assert "泄露" not in json.dumps(gone, ensure_ascii=False) and gone["channels"] == []
    jsonschema.validate(gone, json_schema(), cls=jsonschema.Draft202012Validator)


def test_nothing_is_served_before_a_channel_shows_it():
    assert resource_of(new_item("s1"), "https://files.example") is None
    assert applied(new_item("s1"), off("portal")) is None


def test_a_summary_is_the_texts_beginning():
    assert summary_of("  一\n二  ") == "一 二"
    assert len(summary_of("字" * 500)) == 120 and summary_of("字" * 500).endswith("…")


def test_the_committed_schema_is_the_one_the_code_serves():
    committed = json.loads((ROOT / "docs" / "item.schema.json").read_text())
    assert committed == json_schema(), "docs/item.schema.json is stale: run `make schemas`"
    jsonschema.Draft202012Validator.check_schema(committed)


def test_the_plain_text_breaks_lines_and_paragraphs_as_the_page_does():
    assert plain_text("第一段\n第二行\n\n第二段\n\n- 一\n- 二") == "第一段\n第二行\n\n第二段\n\n一\n\n二"
