"""Webhook subscriptions of external platforms that republish what gongkai publishes. Pure.

A subscription follows the feed of what is published (the same numbered ledger as
`GET /v1/published`) with a cursor of its own: entries are delivered in order, each once in
effect (its webhook id `<subscription>.<seq>` is the receiver's idempotency key), and a failing
receiver holds its own cursor back without losing anything. After `max_failures` consecutive
failures the subscription is disabled with the reason shown; enabled again, it resumes where it
stopped."""

import base64
import binascii
import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl, field_validator

from services.publish.domain import backoff
from shared.domain import EACH_ONCE, each_once

FEED_EVENTS = {
    "published": "publication.published",
    "updated": "publication.updated",
    "withdrawn": "publication.withdrawn",
}
FeedEvent = Literal["publication.published", "publication.updated", "publication.withdrawn"]


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
        min_length=1, max_length=len(FEED_EVENTS)
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
        return FEED_EVENTS[entry["kind"]] in self.events

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


def delivery_body(entry: dict) -> dict:
    """What a subscriber receives: the feed entry, typed as the event it reports."""
    data = {k: v for k, v in entry.items() if k not in ("_id", "prev_hash", "record_id")}
    return {"type": FEED_EVENTS[entry["kind"]], "id": f"{entry['seq']}", "data": data}


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
