"""What external platforms republish from: `GET /v1/published?cursor=`, the feed of every
publication and withdrawal in the order they happened, for platforms that pull; and webhook
subscriptions (`/v1/subscriptions`, operators) for platforms that are pushed to. Entries are
numbered without gaps when they are appended (shared.ledger), so a cursor — the last number a
platform saw — never misses or repeats an entry, however many arrive while it pages."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import AwareDatetime, BaseModel

from services.publish.destinations import closed_to
from services.publish.store import SubscriptionStore
from services.publish.subscriptions import (
    DeliveryRecord,
    FeedEvent,
    Subscription,
    SubscriptionRequest,
    SubscriptionState,
    enabled,
    new_secret,
)
from shared.auth import Principal, requires
from shared.domain import Role
from shared.events import utcnow
from shared.problems import FieldError, Problem

Operator = Annotated[Principal, Depends(requires(Role.OPERATOR))]
SubscriptionId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$")]


class FeedEntry(BaseModel):
    seq: int
    kind: str  # published | updated | withdrawn
    submission_id: str
    channel: str
    url: str | None = None
    published_at: str | None = None
    updated_at: str | None = None
    withdrawn_at: str | None = None
    title: str | None = None
    category: str | None = None
    department: str | None = None
    department_name: str | None = None
    hash: str  # the ledger's hash of this entry: a platform can keep it as a receipt


class FeedPage(BaseModel):
    items: list[FeedEntry]
    next_cursor: str  # pass it back to read on; the same cursor when nothing new has arrived


def routes() -> APIRouter:
    router = APIRouter(prefix="/v1/published", tags=["republishing"])

    @router.get("", response_model=FeedPage)
    async def published(
        request: Request,
        cursor: Annotated[
            str, Query(pattern=r"^[0-9]{1,12}$", description="The next_cursor of the last page")
        ] = "0",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> FeedPage:
        entries = await request.app.state.store.feed.after(int(cursor), limit)
        items = [FeedEntry.model_validate(e) for e in entries]
        return FeedPage(items=items, next_cursor=str(items[-1].seq if items else int(cursor)))

    return router


class SubscriptionView(BaseModel):
    id: str
    url: str
    events: list[FeedEvent]
    description: str
    state: SubscriptionState
    delivered: int
    failures: int
    last_error: str | None
    disabled_reason: str | None
    cursor: int  # the last feed entry handled
    created_at: AwareDatetime

    @classmethod
    def of(cls, subscription: Subscription) -> "SubscriptionView":
        return cls.model_validate(subscription.model_dump(include=set(cls.model_fields)))


class SubscriptionCreated(SubscriptionView):
    secret: str  # shown this once: the receiver checks every delivery's signature with it


class SubscriptionPage(BaseModel):
    items: list[SubscriptionView]
    next_cursor: str | None = None


class DeliveryView(DeliveryRecord):
    id: str


class DeliveryPage(BaseModel):
    items: list[DeliveryView]
    next_cursor: str | None  # pass it back for older deliveries


def subscriptions_of(request: Request) -> SubscriptionStore:
    return request.app.state.store.subscriptions


Subscriptions = Annotated[SubscriptionStore, Depends(subscriptions_of)]


async def _found(subscriptions: SubscriptionStore, subscription_id: str) -> Subscription:
    subscription = await subscriptions.get(subscription_id)
    if subscription is None:
        raise Problem(404, "Not found", f"No subscription {subscription_id}.")
    return subscription


def subscription_routes() -> APIRouter:
    router = APIRouter(prefix="/v1/subscriptions", tags=["republishing"])

    @router.post("", status_code=201, response_model=SubscriptionCreated)
    async def subscribe(
        request: Request, subscriptions: Subscriptions, _: Operator, wanted: SubscriptionRequest
    ) -> SubscriptionCreated:
        """Register a platform's URL, the events it wants and the secret its deliveries are
        signed with (generated when not given, and shown only in this answer). A URL whose host
        is, or resolves to, a loopback, private or link-local address is refused (422) unless the
        operator trusts its network (GONGKAI_WEBHOOK_TRUSTED_NETWORKS)."""
        trusted = request.app.state.settings.webhook_trusted_networks
        if why := await closed_to(str(wanted.url), trusted):
            raise Problem(422, "Destination refused", why, errors=[FieldError(field="url", reason=why)])
        head = await request.app.state.store.feed.head()
        now = utcnow()
        subscription = Subscription(
            id=uuid.uuid4().hex,
            url=str(wanted.url),
            events=wanted.events,
            description=wanted.description,
            secret=wanted.secret or new_secret(),
            cursor=0 if wanted.from_start or head is None else head["seq"],
            next_attempt_at=now,
            created_at=now,
        )
        await subscriptions.create(subscription)
        return SubscriptionCreated.model_validate(subscription.model_dump())

    @router.get("", response_model=SubscriptionPage)
    async def listing(subscriptions: Subscriptions, _: Operator) -> SubscriptionPage:
        return SubscriptionPage(items=[SubscriptionView.of(s) for s in await subscriptions.all()])

    @router.get("/{subscription_id}", response_model=SubscriptionView)
    async def one(
        subscriptions: Subscriptions, _: Operator, subscription_id: SubscriptionId
    ) -> SubscriptionView:
        return SubscriptionView.of(await _found(subscriptions, subscription_id))

    @router.post("/{subscription_id}/enable", response_model=SubscriptionView)
    async def enable(
        subscriptions: Subscriptions, _: Operator, subscription_id: SubscriptionId
    ) -> SubscriptionView:
        """Active again after it was disabled: it resumes where it stopped, missing nothing."""
        changed = await subscriptions.change(subscription_id, lambda s: enabled(s, utcnow()))
        if changed is None:
            raise Problem(404, "Not found", f"No subscription {subscription_id}.")
        return SubscriptionView.of(changed)

    @router.delete("/{subscription_id}", status_code=204)
    async def unsubscribe(
        subscriptions: Subscriptions, _: Operator, subscription_id: SubscriptionId
    ) -> Response:
        if not await subscriptions.delete(subscription_id):
            raise Problem(404, "Not found", f"No subscription {subscription_id}.")
        return Response(status_code=204)

    @router.get("/{subscription_id}/deliveries", response_model=DeliveryPage)
    async def deliveries(
        subscriptions: Subscriptions,
        _: Operator,
        subscription_id: SubscriptionId,
        cursor: Annotated[str | None, Query(pattern=r"^[0-9a-f]{24}$")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> DeliveryPage:
        """Every attempt to deliver, newest first: when, what, the answer and how long it took."""
        await _found(subscriptions, subscription_id)
        docs = await subscriptions.deliveries_of(subscription_id, cursor, limit)
        items = [DeliveryView.model_validate({**d, "id": d["_id"]}) for d in docs]
        return DeliveryPage(items=items, next_cursor=items[-1].id if len(items) == limit else None)

    return router
