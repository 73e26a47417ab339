"""The item as republishers see it (DESIGN.md "The item as republishers see it"). Pure.

One versioned resource per published item, the same at `GET /v1/items/{id}`, in the pull feed
and in every webhook delivery: its text as sanitised HTML and as plain text (shared.rendering, the
portal's own rendering), its catalogue fields, its dates, the channels it is live on and its
attachments with their SHA-256.

Publications are per channel; the item is one. Each channel's change (on it, corrected on it, off
it) is folded into one item document, and only a change of the item announces itself:
`item.published` when it first goes live on any channel, `item.updated` when a channel first shows
a corrected revision, `item.withdrawn` when it is first taken off one (a withdrawal is final: from
that moment it must be removed everywhere). A channel that catches up later (the platform back
after an outage) changes the resource's `channels`, and announces nothing.

What an entry of the feed carries is the item as it stands when it is read: a text corrected or
withdrawn since is never served again, not even from the feed's history (a 更正 replaces a wrong
text; a withdrawal may be for a leak). A republisher applies every delivery the same way: keep the
newest `revision` of each id, and remove an item whose `state` is `withdrawn`."""

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from shared.domain import (
    CATEGORY_LABELS,
    THEME_LABELS,
    VALIDITY_LABELS,
    Category,
    Channel,
    Theme,
    ValidityStatus,
)
from shared.events import (
    Envelope,
    ItemContent,
    PublicationPublished,
    PublicationUpdated,
    PublicationWithdrawn,
)
from shared.rendering import body_html, visible_text

SCHEMA_VERSION = 1
SCHEMA_ID = "urn:gongkai:schema:item:1"  # the same wherever it is served from
SUMMARY_LENGTH = 120  # characters of the text a summary shows for an item without a 内容概述 of its own
ITEM_EVENTS = ("item.published", "item.updated", "item.withdrawn")


class Resource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_serialization_defaults_required=True)


class ItemChannel(Resource):
    """A channel the item is live on."""

    channel: Channel
    url: str = Field(description="Where the channel shows the item")
    published_at: AwareDatetime = Field(description="When it first went live on this channel")
    revision: int = Field(ge=1, description="The revision the channel shows")


class ItemAttachment(Resource):
    id: str
    name: str = Field(description="The file's name as the department gave it")
    media_type: str
    size: int = Field(ge=0, description="Bytes")
    sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="Of the file's bytes: check a download with it"
    )
    url: str = Field(description="Where anybody downloads it while the item is published")


class ItemValidity(Resource):
    """有效性 of a normative document (行政规范性文件), and the dates of its changes."""

    status: ValidityStatus
    status_label: str = Field(description="有效 / 失效 / 废止")
    effective_from: date | None = Field(description="施行日期")
    expires_on: date | None = Field(description="有效期至, or the day it lapsed (失效)")
    repealed_on: date | None = Field(description="废止日期")


INDEX_NUMBER = Field(
    description="索引号 (机构代码-类别-年份-流水号): assigned once, at the item's first publication, kept "
    "across corrections and withdrawal and never given to another item; null for items published "
    "before numbers were assigned"
)


class Item(Resource):
    """A published item (`state`: published), at its newest revision."""

    model_config = ConfigDict(title="PublishedItem")

    schema_version: Literal[1]
    state: Literal["published"]
    id: str
    revision: int = Field(ge=1, description="Grows with every correction (更正); keep the newest")
    title: str
    body_html: str = Field(description="The text as the portal shows it: rendered, sanitised HTML")
    body_text: str = Field(description="The text a reader of that HTML sees, line breaks included")
    summary: str = Field(
        description=f"内容概述: the department's own, else the text's first {SUMMARY_LENGTH} characters, "
        "white space folded"
    )
    index_number: str | None = INDEX_NUMBER
    category: Category
    category_label: str = Field(description="信息分类 (类别), as the catalogue names it")
    theme: Theme | None = Field(
        description="主题分类 (the State Council's list); null for items from before it"
    )
    theme_label: str | None
    keywords: list[str] = Field(description="关键词")
    validity: ItemValidity | None = Field(description="有效性, for normative documents")
    department: str = Field(description="The publishing department's code (发布机构)")
    department_name: str
    document_number: str | None = Field(description="文号, if the item has one")
    formed_on: date = Field(description="成文日期")
    first_published_at: AwareDatetime = Field(description="发布日期: when it first went live anywhere")
    updated_at: AwareDatetime = Field(description="When its current revision first went live")
    withdrawn_at: None
    channels: list[ItemChannel] = Field(description="Where it is live now")
    attachments: list[ItemAttachment]


class RemovedAttachment(Resource):
    id: str
    url: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Removal(Resource):
    """What a republisher must take down: every page that showed the item and every file."""

    urls: list[str] = Field(description="The channels' pages of the item")
    attachments: list[RemovedAttachment]


class WithdrawnItem(Resource):
    """A withdrawn item (`state`: withdrawn): its text, title and files are no longer served."""

    model_config = ConfigDict(title="WithdrawnItem")

    schema_version: Literal[1]
    state: Literal["withdrawn"]
    id: str
    revision: int = Field(ge=1)
    index_number: str | None = INDEX_NUMBER
    category: Category
    department: str
    department_name: str
    first_published_at: AwareDatetime
    updated_at: AwareDatetime
    withdrawn_at: AwareDatetime
    channels: list[ItemChannel] = Field(max_length=0, description="Live nowhere")
    remove: Removal


ItemResource = Annotated[Item | WithdrawnItem, Field(discriminator="state")]
ITEM_ADAPTER: TypeAdapter[Item | WithdrawnItem] = TypeAdapter(ItemResource)


def json_schema() -> dict:
    """The JSON Schema (2020-12) of the item resource, served at /v1/schemas/item.json and kept in
    docs/item.schema.json."""
    schema = ITEM_ADAPTER.json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"gongkai item, version {SCHEMA_VERSION}",
        **schema,
    }


def public_content(content: ItemContent) -> dict:
    """What of an item's content goes online: everything but the text screening read of its files."""
    hidden = {"text", "parts", "unread"}
    return content.model_dump(mode="json", exclude={"submitted_at": True, "attachments": {"__all__": hidden}})


def channel_change(revision: int, content: ItemContent, event: Envelope | None) -> dict | None:
    """What a publication's event changes of its item, staged beside the event (outbox ITEMS):
    the channel now shows `revision` of `content`, or no longer shows the item."""
    match event:
        case PublicationPublished():
            live, at, url = True, event.data.published_at, event.data.url
        case PublicationUpdated():
            live, at, url = True, event.data.updated_at, event.data.url
        case PublicationWithdrawn():
            live, at, url = False, event.data.withdrawn_at, None
        case _:
            return None
    change = {
        "record_id": str(event.event_id),
        "submission_id": event.submission_id,
        "channel": event.data.channel.value,
        "live": live,
        "at": at.isoformat(),
        "revision": revision,
    }
    return change | ({"url": url, "content": public_content(content)} if live else {})


def standing_change(
    submission_id: str, channel: str, revision: int, content: ItemContent, url: str, at: datetime
) -> dict:
    """A channel's change for a publication that was already on its channel before items were
    kept (an upgrade): folded like any other, it makes the item known, announced once."""
    return {
        "record_id": f"standing:{submission_id}:{channel}:{revision}",
        "submission_id": submission_id,
        "channel": channel,
        "live": True,
        "at": at.isoformat(),
        "revision": revision,
        "url": url,
        "content": public_content(content),
    }


def new_item(submission_id: str) -> dict:
    """An item document before any channel shows it."""
    return {"_id": submission_id, "state": "pending", "revision": 0, "channels": {}}


def applied(doc: dict, change: dict) -> tuple[dict, dict | None] | None:
    """The item document's new fields after a channel's change, and the feed entry announcing a
    change of the item (None when only a channel changed); None when the change is known already
    (a relay may deliver one twice)."""
    channels = dict(doc.get("channels") or {})
    known = channels.get(change["channel"])
    at, revision = change["at"], change["revision"]
    if change["live"]:
        if known and known["live"] and known["revision"] >= revision:
            return None
        first_at = known["published_at"] if known else at
        channels[change["channel"]] = {
            "url": change["url"],
            "revision": revision,
            "live": True,
            "published_at": first_at,
        }
        fields: dict = {"channels": channels, "changed_at": max(at, doc.get("changed_at") or at)}
        if doc["state"] == "pending":
            kind = "item.published"
            fields |= {"state": "published", "first_published_at": at, "updated_at": at}
        elif doc["state"] == "published" and revision > doc["revision"]:
            kind = "item.updated"
            fields |= {"updated_at": at}
        else:
            return fields, None  # a channel caught up, or showed it just before its withdrawal
        fields |= {"revision": revision, "content": change["content"]}
    else:
        if not known or not known["live"]:
            return None
        channels[change["channel"]] = {**known, "live": False}
        fields = {"channels": channels, "changed_at": max(at, doc.get("changed_at") or at)}
        if doc["state"] != "published":
            return fields, None
        kind = "item.withdrawn"
        fields |= {"state": "withdrawn", "withdrawn_at": at}
    entry = {
        "record_id": f"item:{change['record_id']}",
        "kind": kind,
        "submission_id": doc["_id"],
        "revision": fields.get("revision", doc["revision"]),
        "timestamp": at,
    }
    return fields, entry


_BREAKS = re.compile(r"\n{2,}")


def plain_text(body: str) -> str:
    """What a reader sees of the body, as text: a line break where the page breaks a line, an empty
    line between paragraphs (shared.rendering.visible_text ends a <br> line and a block each with
    their own newline, so a break reads as two and a paragraph as three)."""
    runs = _BREAKS.sub(lambda m: "\n\n" if len(m.group()) > 2 else "\n", visible_text(body))
    return "\n".join(line.rstrip() for line in runs.strip().split("\n"))


def summary_of(text: str) -> str:
    folded = " ".join(text.split())
    return folded if len(folded) <= SUMMARY_LENGTH else folded[: SUMMARY_LENGTH - 1] + "…"


def _attachment(a: dict, files_url: str) -> dict:
    return {
        "id": a["id"],
        "name": a["filename"],
        "media_type": a["media_type"],
        "size": a["size"],
        "sha256": a["sha256"],
        "url": f"{files_url.rstrip('/')}/v1/attachments/{a['id']}",
    }


def _validity(validity: dict | None) -> ItemValidity | None:
    if not validity:
        return None
    status = ValidityStatus(validity["status"])
    return ItemValidity(
        status=status,
        status_label=VALIDITY_LABELS[status],
        effective_from=validity.get("effective_from"),
        expires_on=validity.get("expires_on"),
        repealed_on=validity.get("repealed_on"),
    )


def resource_of(doc: dict, files_url: str) -> Item | WithdrawnItem | None:
    """The item document as republishers see it; None while no channel has shown it."""
    if doc.get("state") not in ("published", "withdrawn"):
        return None
    content = doc["content"]
    attachments = [_attachment(a, files_url) for a in content.get("attachments", ())]
    common = {
        "schema_version": SCHEMA_VERSION,
        "id": doc["_id"],
        "revision": doc["revision"],
        "index_number": content.get("index_number"),
        "category": content["category"],
        "department": content["department"],
        "department_name": content["department_name"],
        "first_published_at": doc["first_published_at"],
        "updated_at": doc["updated_at"],
    }
    channels = doc.get("channels") or {}
    if doc["state"] == "withdrawn":
        urls = [c["url"] for _, c in sorted(channels.items())]
        remove = {
            "urls": urls,
            "attachments": [{k: a[k] for k in ("id", "url", "sha256")} for a in attachments],
        }
        return WithdrawnItem(
            **common, state="withdrawn", withdrawn_at=doc["withdrawn_at"], channels=[], remove=remove
        )
    text = plain_text(content["body"])
    live = [
        ItemChannel(channel=name, url=c["url"], published_at=c["published_at"], revision=c["revision"])
        for name, c in sorted(channels.items())
        if c["live"]
    ]
    return Item(
        **common,
        state="published",
        withdrawn_at=None,
        title=content["title"],
        body_html=str(body_html(content["body"])),
        body_text=text,
        summary=content.get("summary") or summary_of(text),
        category_label=CATEGORY_LABELS[Category(content["category"])],
        theme=content.get("theme"),
        theme_label=THEME_LABELS[Theme(content["theme"])] if content.get("theme") else None,
        keywords=list(content.get("keywords") or ()),
        validity=_validity(content.get("validity")),
        document_number=content.get("document_number"),
        formed_on=content["formed_on"],
        channels=live,
        attachments=attachments,
    )
