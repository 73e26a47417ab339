"""Webhook subscriptions of external platforms that republish what gongkai publishes. Pure.

A subscription follows the feed of what is published (the same numbered ledger as
`GET /v1/published`) with a cursor of its own: entries are delivered in order, each once in
effect (its webhook id `<subscription>.<seq>` is the receiver's idempotency key, the same on every
retry), and a failing receiver holds its own cursor back without losing anything. After
`max_failures` consecutive failures the subscription is disabled with the reason shown; enabled
again, it resumes where it stopped.

The feed holds two kinds of event. `item.published`, `item.updated` and `item.withdrawn` — one per
change of an item, carrying the whole item resource (services.publish.items) — are what a
subscription gets unless it asks otherwise; `publication.*`, one per item and channel, remain for
those that ask for them. Every delivery has the Standard Webhooks shape `{type, timestamp, data}`,
the same as the pull feed's entries."""

import base64
import binascii
import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl, field_validator

from services.publish.domain import backoff
from services.publish.items import ITEM_EVENTS, Item, WithdrawnItem
from shared.domain import EACH_ONCE, each_once

CHANNEL_EVENTS = {  # a feed entry's `kind` → the event it reports, for entries of one channel
    "published": "publication.published",
    "updated": "publication.updated",
    "withdrawn": "publication.withdrawn",
}
FeedEvent = Literal[
    "item.published",
    "item.updated",
    "item.withdrawn",
    "publication.published",
    "publication.updated",
    "publication.withdrawn",
]
FEED_EVENTS: tuple[str, ...] = (*ITEM_EVENTS, *CHANNEL_EVENTS.values())
DEFAULT_EVENTS: list[FeedEvent] = ["item.published", "item.updated", "item.withdrawn"]


def event_type(entry: dict) -> str:
    """The event a feed entry reports (item entries are kept under their event's name)."""
    return CHANNEL_EVENTS.get(entry["kind"], entry["kind"])


def is_item_event(entry: dict) -> bool:
    return entry["kind"] in ITEM_EVENTS


class ChannelEventData(BaseModel):
    """The `data` of a `publication.*` event: one item on one channel (null where not known)."""

    submission_id: str
    channel: str
    url: str | None = None
    published_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    withdrawn_at: AwareDatetime | None = None
    title: str | None = None
    category: str | None = None
    department: str | None = None
    department_name: str | None = None
    index_number: str | None = None  # 索引号


CHANNEL_FIELDS = tuple(ChannelEventData.model_fields)


def entry_time(entry: dict) -> str:
    """When what a feed entry reports happened (ISO 8601)."""
    if is_item_event(entry):
        return entry["timestamp"]
    return entry.get("published_at") or entry.get("updated_at") or entry["withdrawn_at"]


def feed_event(entry: dict, item: Item | WithdrawnItem | None) -> dict:
    """What a subscriber receives for a feed entry, and what the pull feed shows of it: its type,
    when it happened, and its data (for an item event, `item`: the item as it stands now)."""
    if is_item_event(entry):
        if item is None:
            raise LookupError(f"feed entry {entry['seq']} names item {entry['submission_id']}, not found")
        data = item.model_dump(mode="json")
    else:
        data = {name: entry.get(name) for name in CHANNEL_FIELDS}  # as stored: JSON already
    return {"type": event_type(entry), "timestamp": entry_time(entry), "data": data}


class SubscriptionState(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


# The validator below as the schema says it: whsec_ and base64 of 24 to 64 bytes, padded (n
# bytes take ceil(n / 3) groups of four characters, the last with one or two '=' when n % 3 is
# 2 or 1).
_B64 = "[A-Za-z0-9+/]"
SECRET_PATTERN = f"^whsec_(?:(?:{_B64}{{4}}){{8,21}}(?:{_B64}{{2}}==)?|(?:{_B64}{{4}}){{8,20}}{_B64}{{3}}=)$"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class SubscriptionRequest(BaseModel):
    """`POST /v1/subscriptions`: where to deliver, what, and the secret to sign it with."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(description="Receives each delivery as a signed POST (Standard Webhooks)")
    events: Annotated[list[FeedEvent], AfterValidator(each_once), EACH_ONCE] = Field(
        default_factory=lambda: list(DEFAULT_EVENTS),
        min_length=1,
        max_length=len(FEED_EVENTS),
        description="The event types to deliver: the item.* events unless others are chosen "
        "(publication.* are per channel)",
    )
    secret: Annotated[str, Field(json_schema_extra={"pattern": SECRET_PATTERN})] | None = Field(
        None, description="whsec_ followed by base64 of 24 to 64 random bytes; generated when left out"
    )
    description: str = Field("", max_length=200)
    from_start: bool = Field(
        False, description="Deliver everything published so far too, not only what comes"
    )

    @field_validator("secret")
    @classmethod
    def _standard_webhooks_secret(cls, secret: str | None) -> str | None:
        if secret is None:
            return None
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if not secret.startswith("whsec_") or not 24 <= len(key) <= 64:
            raise ValueError("must be whsec_ followed by base64 of 24 to 64 bytes")
        return secret


class Subscription(BaseModel):
    id: str
    url: str
    events: list[FeedEvent]
    description: str = ""
    secret: str
    state: SubscriptionState = SubscriptionState.ACTIVE
    cursor: int  # the last feed entry handled (delivered or not wanted)
    delivered: int = 0
    failures: int = 0  # consecutive
    last_error: str | None = None
    disabled_reason: str | None = None
    next_attempt_at: AwareDatetime
    created_at: AwareDatetime

    def wants(self, entry: dict) -> bool:
        return event_type(entry) in self.events

    @property
    def due(self) -> bool:
        return self.state == SubscriptionState.ACTIVE


class DeliveryRecord(BaseModel):
    """One attempt to deliver one feed entry, as the delivery log shows it."""

    subscription_id: str
    seq: int
    event: FeedEvent
    submission_id: str
    webhook_id: str
    at: AwareDatetime
    outcome: Literal["delivered", "failed"]
    status_code: int | None = None
    error: str | None = None
    ms: float


def webhook_id(subscription: Subscription, seq: int) -> str:
    return f"{subscription.id}.{seq}"


def passed(subscription: Subscription, seq: int, delivered: bool) -> Subscription:
    """The cursor past entry `seq`, delivered or not wanted."""
    return subscription.model_copy(
        update={
            "cursor": seq,
            "delivered": subscription.delivered + delivered,
            "failures": 0,
            "last_error": None,
        }
    )


def failed(
    subscription: Subscription, error: str, at: datetime, max_failures: int, retry_after: float | None = None
) -> Subscription:
    """Try again later, or disable the subscription once `max_failures` in a row failed."""
    failures = subscription.failures + 1
    if failures >= max_failures:
        return subscription.model_copy(
            update={
                "failures": failures,
                "last_error": error,
                "state": SubscriptionState.DISABLED,
                "disabled_reason": f"{failures} deliveries in a row failed; the last: {error}",
            }
        )
    delay = max(retry_after or 0.0, backoff(failures))
    return subscription.model_copy(
        update={"failures": failures, "last_error": error, "next_attempt_at": at + timedelta(seconds=delay)}
    )


def enabled(subscription: Subscription, at: datetime) -> Subscription:
    """Active again, resuming at its cursor: nothing published meanwhile is skipped."""
    return subscription.model_copy(
        update={
            "state": SubscriptionState.ACTIVE,
            "failures": 0,
            "disabled_reason": None,
            "next_attempt_at": at,
        }
    )
