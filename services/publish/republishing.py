"""What external platforms republish from: the item resource at `GET /v1/items/{id}` and its
JSON Schema (services.publish.items); `GET /v1/published?cursor=`, the feed of every change of an
item (and, asked for, of every channel) in the order they happened, for platforms that pull; and
webhook subscriptions (`/v1/subscriptions`, operators) for platforms that are pushed to, each
delivery documented in OpenAPI `webhooks`. Entries are numbered without gaps when they are
appended (shared.ledger), so a cursor — the last number a platform saw — never misses or repeats
an entry, however many arrive while it pages."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field, TypeAdapter, create_model

from services.publish.caching import conditional
from services.publish.destinations import closed_to
from services.publish.handlers import feed_events
from services.publish.items import Item, ItemResource, WithdrawnItem, json_schema, resource_of
from services.publish.store import SubscriptionStore
from services.publish.subscriptions import (
    DEFAULT_EVENTS,
    ChannelEventData,
    DeliveryRecord,
    FeedEvent,
    Subscription,
    SubscriptionRequest,
    SubscriptionState,
    enabled,
    entry_time,
    event_type,
    is_item_event,
    new_secret,
)
from shared.auth import Principal, requires
from shared.domain import Role
from shared.events import utcnow
from shared.problems import MEDIA_TYPE as PROBLEM
from shared.problems import FieldError, Problem

Operator = Annotated[Principal, Depends(requires(Role.OPERATOR))]
SubscriptionId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$")]
ItemId = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")]
SCHEMA_PATH = "/v1/schemas/item.json"


class FeedEntry(BaseModel):
    """One event of the feed, as a webhook delivers it (`type`, `timestamp`, `data`), numbered."""

    seq: int
    type: FeedEvent
    timestamp: AwareDatetime
    submission_id: str
    data: Item | WithdrawnItem | ChannelEventData = Field(
        description="item.*: the item resource (JSON Schema at /v1/schemas/item.json), as it stands "
        "now; publication.*: the item on one channel"
    )
    hash: str  # the ledger's hash of this entry: a platform can keep it as a receipt


class FeedPage(BaseModel):
    items: list[FeedEntry]
    next_cursor: str  # pass it back to read on; the same cursor when nothing new has arrived


class WithdrawnProblem(BaseModel):
    """410 of a withdrawn item (RFC 9457, with the withdrawn item as an extension member)."""

    type: str = "about:blank"
    title: str = "Gone"
    status: int = 410
    detail: str
    item: WithdrawnItem


def item_routes() -> APIRouter:
    router = APIRouter(tags=["republishing"])

    @router.get(
        "/v1/items/{item_id}",
        response_model=Item,
        responses={
            410: {
                "model": WithdrawnProblem,
                "description": "Withdrawn: what must be removed is in `item`",
                "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/WithdrawnProblem"}}},
            }
        },
    )
    async def item(request: Request, item_id: ItemId) -> Response:
        """A published item, the resource every delivery and the feed carry (its JSON Schema at
        /v1/schemas/item.json). A withdrawn item answers 410 naming what must be removed."""
        doc = await request.app.state.store.items.get(item_id)
        resource = resource_of(doc, request.app.state.settings.attachments_base_url) if doc else None
        if resource is None:
            raise Problem(404, "Not found", f"No published item {item_id}.")
        if isinstance(resource, WithdrawnItem):
            gone = WithdrawnProblem(detail=f"Item {item_id} was withdrawn; remove it.", item=resource)
            return JSONResponse(gone.model_dump(mode="json"), status_code=410, media_type=PROBLEM)
        changed = datetime.fromisoformat(doc.get("changed_at") or doc["updated_at"])
        return conditional(request, JSONResponse(resource.model_dump(mode="json")), changed)

    @router.get(SCHEMA_PATH, responses={200: {"content": {"application/schema+json": {}}}})
    async def item_schema() -> Response:
        """The JSON Schema (2020-12) of the item resource: a published item or a withdrawn one."""
        return JSONResponse(json_schema(), media_type="application/schema+json")

    return router


EVENT_LIST = r"^(item|publication)\.(published|updated|withdrawn)(,(item|publication)\.(published|updated|withdrawn))*$"
PAGE_JSON: TypeAdapter[dict] = TypeAdapter(dict)  # serialised in Rust: a page holds 1,000 entries
SCAN_LIMIT = 10_000  # entries one page may pass over looking for the types asked for
PAGE_BYTES = 4_000_000  # a page ends early rather than grow past this (bodies may be large)


async def feed_page(store, cursor: int, limit: int, types: set[str], files_url: str) -> tuple[dict, int]:
    """Up to `limit` entries of the given types after `cursor`, and the cursor to read on from:
    past the entries passed over, so a reader of item events never pages through channel ones;
    and the number of the last entry read."""
    chosen, position, scanned = [], cursor, 0
    while len(chosen) < limit and scanned < SCAN_LIMIT:
        batch = await store.feed.after(position, min(1000, max(limit, 100)))
        if not batch:
            break
        for entry in batch:
            position, scanned = entry["seq"], scanned + 1
            if event_type(entry) in types:
                chosen.append(entry)
                if len(chosen) == limit:
                    break
    events = await feed_events(store.items, chosen, files_url)
    items, size = [], 0
    for entry, event in zip(chosen, events, strict=True):
        if is_item_event(entry):  # a channel's event is a few hundred bytes; an item's may be megabytes
            size += len(event["data"].get("body_html", "")) + len(event["data"].get("body_text", ""))
        if items and size > PAGE_BYTES:
            position = items[-1]["seq"]  # the rest on the next page
            break
        items.append(
            {"seq": entry["seq"], **event, "submission_id": entry["submission_id"], "hash": entry["hash"]}
        )
    return {"items": items, "next_cursor": str(position)}, position


async def feed_changed_at(store, page: dict, read_to: int) -> datetime | None:
    """When the feed last changed, as far as this page can tell: its newest entry's time, or that
    of the entries of the page (a channel's time may run behind the order entries arrive in)."""
    head = await store.feed.head()
    newer = head is not None and head["seq"] > read_to  # a reader that is caught up read the head
    newest = await store.feed.after(head["seq"] - 1, 1) if newer else []
    moments = [entry_time(e) for e in newest] + [e["timestamp"] for e in page["items"]]
    return max((datetime.fromisoformat(m) for m in moments), default=None)


def routes() -> APIRouter:
    router = APIRouter(prefix="/v1/published", tags=["republishing"])

    @router.get("", response_model=FeedPage)
    async def published(
        request: Request,
        cursor: Annotated[
            str, Query(pattern=r"^[0-9]{1,12}$", description="The next_cursor of the last page")
        ] = "0",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        types: Annotated[
            str,
            Query(
                pattern=EVENT_LIST,
                description="Comma-separated event types to list: the item.* events unless others "
                "are asked for (publication.* are per channel)",
            ),
        ] = ",".join(DEFAULT_EVENTS),
    ) -> Response:
        """Everything published, corrected and withdrawn, in order: resume from the last
        next_cursor; every entry is numbered, none is missed or repeated."""
        store, files_url = request.app.state.store, request.app.state.settings.attachments_base_url
        page, read_to = await feed_page(store, int(cursor), limit, set(types.split(",")), files_url)
        body = Response(PAGE_JSON.dump_json(page), media_type="application/json")
        return conditional(request, body, await feed_changed_at(store, page, read_to))

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
        request: Request,
        response: Response,
        subscriptions: Subscriptions,
        _: Operator,
        wanted: SubscriptionRequest,
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
        response.headers["Location"] = f"/v1/subscriptions/{subscription.id}"
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


WEBHOOKS = {
    "item.published": (ItemResource, "An item went live, on the first of its channels"),
    "item.updated": (ItemResource, "A correction (更正) of an item went live, on the first of its channels"),
    "item.withdrawn": (ItemResource, "An item was withdrawn: remove every page and file `data.remove` names"),
    "publication.published": (ChannelEventData, "An item went live on one channel (asked for by name)"),
    "publication.updated": (ChannelEventData, "A channel shows an item's correction (asked for by name)"),
    "publication.withdrawn": (ChannelEventData, "An item was taken off one channel (asked for by name)"),
}
SIGNATURE = "Standard Webhooks: `v1,` and the base64 HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body>`"


def document_webhooks(app: FastAPI) -> None:
    """Every delivery a subscription can receive, in OpenAPI 3.1 `webhooks`: its body (the item
    resource for item.*) and its signed headers. The same bodies are the pull feed's entries."""
    for name, (data, summary) in WEBHOOKS.items():
        body = create_model(
            "".join(part.title() for part in name.split(".")) + "Event",
            type=(Literal[name], ...),  # type: ignore[valid-type]
            timestamp=(AwareDatetime, Field(description="When the change happened")),
            data=(data, ...),
        )

        async def receive(
            event: body,  # type: ignore[valid-type]
            webhook_id: Annotated[
                str, Header(description="`<subscription>.<seq>`: the same on every retry; deduplicate by it")
            ],
            webhook_timestamp: Annotated[str, Header(description="Unix seconds of this attempt")],
            webhook_signature: Annotated[str, Header(description=SIGNATURE)],
            user_agent: Annotated[str, Header(description="`gongkai/<version>`")],
        ) -> None:
            """Answer 2xx once it is taken; anything else (or no answer in time) is retried with
            backoff, in order, the next delivery waiting for this one."""

        app.webhooks.add_api_route(name, receive, methods=["POST"], summary=summary, status_code=204)
