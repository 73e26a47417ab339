"""What every service process shares: the FastAPI app with the broker started in its lifespan,
the MongoDB client, the outbox relay, health and metrics, problem+json errors, and the one
consumer through which events enter a service."""

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Any

import structlog
import uvicorn
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from fastapi_offline import FastAPIOffline
from faststream import AckPolicy
from faststream.exceptions import RejectMessage
from faststream.rabbit import RabbitBroker
from prometheus_client import CONTENT_TYPE_LATEST
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure
from starlette.datastructures import MutableHeaders

from shared import problems, tracing
from shared.auth import EXPIRES_HEADER, prepare_identity
from shared.broker import PREFETCH, create_broker, event_publishers
from shared.events import Event, utcnow
from shared.logging import configure
from shared.metrics import CONSUMER_LAG, EVENTS_CONSUMED, HTTP_LATENCY, HTTP_REQUESTS
from shared.mongo import connect, database_of, require_atomic_writes
from shared.observability import QueueProbe, Source, outbox, scrape
from shared.outbox import event_relay
from shared.settings import Settings
from shared.topology import ANNOUNCES, declare, topology_of

log = structlog.get_logger(__name__)

EventHandler = Callable[[Event], Awaitable[None]]
RESTART_PAUSE_SECONDS = 5
STOP_SECONDS = 10
# Seconds between tries while a server is out of reach. Short: a try itself waits for the server
# (pymongo selects one for 5 s), so a longer pause would only delay the recovery.
OUTAGE_FIRST_PAUSE, OUTAGE_LONGEST_PAUSE = 0.5, 5.0
OUT_OF_REACH = (
    ConnectionFailure,
    OSError,
)  # the database's, and the broker's (its connection errors are OSErrors)
QUIET_ROUTES = {"/healthz", "/readyz", "/metrics"}  # polled constantly; their lines would drown the rest


@dataclass
class ServiceSpec:
    """How one service plugs into the common runtime."""

    name: str
    settings: Settings
    store: Callable[[AsyncDatabase], Any]  # the service's MongoDB adapter; `prepare()` makes its indexes
    handle: Callable[[FastAPI, Event], Awaitable[None]] | None = None  # what an arriving event does
    routers: list[APIRouter] = field(default_factory=list)
    outbox: Callable[[AsyncDatabase], list[AsyncCollection]] = lambda db: []
    prepare: Callable[[FastAPI], Awaitable[None]] | None = None  # further per-service state
    teardown: Callable[[FastAPI], None] | None = None  # releases what `prepare` holds (worker processes)
    workers: list[Callable[[FastAPI], Awaitable[None]]] = field(default_factory=list)
    max_body_size: int = 2_000_000  # bytes; larger bodies are refused (413) before they are parsed
    uploads: dict[str, int] = field(default_factory=dict)  # path → bytes: multipart file uploads taken there
    rate_limited: bool = False  # its authenticated writes can be refused with 429
    figures: list[Source] = field(default_factory=list)  # its own figures read at each scrape of /metrics
    prefetch: int = PREFETCH  # events its consumer handles at once


def subscribe(broker: RabbitBroker, service: str, settings: Settings, handle: EventHandler) -> None:
    """Register the service's one consumer. A message that is not a valid event is rejected at
    once into the DLQ; a handler failure is requeued with `reject`, which quorum queues count
    against the delivery limit on every RabbitMQ version, until the limit dead-letters it."""
    topology = topology_of(service, settings)

    @broker.subscriber(
        topology.queue, topology.events, ack_policy=AckPolicy.REJECT_ON_ERROR, title=f"{service}:events"
    )
    async def on_event(event: Event) -> None:
        CONSUMER_LAG.labels(service, event.type).observe((utcnow() - event.occurred_at).total_seconds())
        tracing.tag(event.submission_id)
        with structlog.contextvars.bound_contextvars(
            submission_id=event.submission_id, event_type=event.type, event_id=str(event.event_id)
        ):
            try:
                await through_outages(handle, event)
            except Exception as exc:
                EVENTS_CONSUMED.labels(service, event.type, "retried").inc()
                log.exception("event handling failed; requeued")
                raise RejectMessage(requeue=True) from exc
            EVENTS_CONSUMED.labels(service, event.type, "handled").inc()


async def through_outages(handle: EventHandler, event: Event) -> None:
    """Handle the event, waiting out a database out of reach: the message stays with this consumer
    (unacknowledged, so nothing is lost if the process dies) and is tried again when the database
    answers, instead of burning its deliveries and landing in the DLQ within seconds."""
    await when_reachable("the database, holding the event", lambda: handle(event), (ConnectionFailure,))


async def when_reachable(
    what: str, attempt: Callable[[], Awaitable[Any]], errors: tuple[type[Exception], ...] = OUT_OF_REACH
) -> Any:
    """Run `attempt` until the server it needs answers (saying so at each try), with a pause
    that doubles up to OUTAGE_LONGEST_PAUSE: a service started while its database or broker is
    down waits for it instead of exiting with nothing to restart it."""
    pause = OUTAGE_FIRST_PAUSE
    while True:
        try:
            return await attempt()
        except errors as exc:
            log.warning("out of reach; trying again", what=what, seconds=pause, error=str(exc)[:200])
            await asyncio.sleep(pause)
            pause = min(pause * 2, OUTAGE_LONGEST_PAUSE)


def create_app(spec: ServiceSpec) -> FastAPI:
    settings = spec.settings
    broker = create_broker(settings, spec.prefetch)
    probe = QueueProbe(spec.name, settings)
    sources = [outbox(spec.name), *([probe.queue_depths] if spec.handle else []), *spec.figures]

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        client = connect(settings)
        app.state.mongo = client
        app.state.db = database_of(client, settings, spec.name)
        app.state.identity = database_of(client, settings, "identity")

        async def first_contact() -> None:
            await require_atomic_writes(client)  # the code's guards are only as good as the store
            await prepare_identity(app.state.identity, settings.token_lifetime)  # tokens from before expiry

        await when_reachable("the database", first_contact)
        app.state.store = spec.store(app.state.db)
        await app.state.store.prepare()
        if spec.prepare:
            await spec.prepare(app)
        await when_reachable("the broker", broker.connect)
        if spec.handle:
            await declare(broker, topology_of(spec.name, settings))
        await broker.start()
        app.state.relay = event_relay(publishers, spec.outbox(app.state.db), settings.outbox_poll_seconds)
        # Supervised too: a database out of reach while the relay starts must not end it for good.
        tasks = [
            asyncio.create_task(_supervised(work, app), name=work.__name__)
            for work in (_outbox_relay, *spec.workers)
        ]
        log.info("service started", port=settings.port_of(spec.name))
        for default in settings.development_defaults():  # said at every start, never silently
            log.warning("a development default is in use", setting=default)
        try:
            yield
        finally:
            # A stop must end: what does not stop in time is named (with where it waits) and left behind.
            for task in tasks:
                task.cancel()
            _, stuck = await asyncio.wait(tasks, timeout=STOP_SECONDS) if tasks else (set(), set())
            for task in stuck:
                log.warning("a task did not stop in time; leaving it", task=task.get_name(), at=_where(task))
            await _within(broker.stop(), "the broker connection")
            await _within(probe.close(), "the connection reading queue depths")
            await _within(client.close(), "the database client")
            if spec.teardown:
                spec.teardown(app)

    publishers = event_publishers(broker, settings, ANNOUNCES[spec.name])
    # Swagger UI from the fastapi-offline package's own copy: nothing a page loads comes from a CDN.
    app = FastAPIOffline(title=f"gongkai {spec.name}", version="1", lifespan=lifespan, redoc_url=None)
    app.state.settings = settings
    app.state.broker = broker
    problems.install(app)
    _instrument(app, spec.name)
    tracing.instrument(app, settings)
    app.add_middleware(BodyGuard, max_body_size=spec.max_body_size, uploads=spec.uploads)
    _protect(app)
    app.include_router(_health_router(spec.name, sources))
    for router in spec.routers:
        app.include_router(router, responses=problems.declared(*problems.ROUTINE))
    _document(app, spec.rate_limited)
    if spec.handle:
        subscribe(broker, spec.name, settings, lambda event: _handle_and_wake(spec.handle, app, event))
    return app


async def _handle_and_wake(handle, app: FastAPI, event: Event) -> None:
    """Handle the event; then what it staged leaves at once instead of at the relay's next poll
    (a second per hop, an item's every hop adding up)."""
    await handle(app, event)
    app.state.relay.wake()


def _where(task: asyncio.Task) -> str:
    frames = task.get_stack(limit=3)
    return " < ".join(f"{f.f_code.co_filename.rsplit('/', 1)[-1]}:{f.f_lineno}" for f in frames)


async def _within(stopping, what: str) -> None:
    try:
        await asyncio.wait_for(stopping, STOP_SECONDS)
    except TimeoutError:
        log.warning("did not close in time; leaving it", what=what, seconds=STOP_SECONDS)


def _document(app: FastAPI, rate_limited: bool) -> None:
    """OpenAPI with each operation's problem answers as they really are (shared.problems)."""

    def schema() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = problems.document(FastAPI.openapi(app), rate_limited)
        return app.openapi_schema

    app.openapi = schema


class BodyGuard:
    """Refuses, before the application reads it, a body of the wrong type (415: JSON, or a
    multipart upload where the service takes files) or larger than the service accepts there
    (413) — whether its length is announced or it arrives in chunks."""

    def __init__(self, app, max_body_size: int, uploads: dict[str, int]):
        self.app, self.max_body_size, self.uploads = app, max_body_size, uploads

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        upload = scope["path"] in self.uploads
        limit = self.uploads.get(scope["path"], self.max_body_size)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            detail = f"The body has {int(length):,} bytes; at most {limit:,} are accepted."
            return await self._refuse(413, detail, scope, receive, send)
        if length not in ("", "0") or "transfer-encoding" in headers:
            media_type = headers.get("content-type", "").split(";")[0].strip().lower()
            wanted = "multipart/form-data" if upload else "application/json"
            if not (media_type == wanted or (not upload and media_type.endswith("+json"))):
                detail = f"Send the body as {wanted}, not {media_type or 'untyped'}."
                return await self._refuse(415, detail, scope, receive, send)
        if length:
            return await self.app(scope, receive, send)
        body = await self._read_limited(receive, limit)
        if body is None:
            detail = f"The body is larger than the {limit:,} bytes accepted."
            return await self._refuse(413, detail, scope, receive, send)
        return await self.app(scope, _replay(body), send)

    async def _read_limited(self, receive, limit: int) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return None
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _refuse(self, status: int, detail: str, scope, receive, send) -> None:
        await problems.problem_response(status, problems.TITLES[status], detail)(scope, receive, send)


def _replay(body: bytes):
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _outbox_relay(app: FastAPI) -> None:
    await app.state.relay.run()


async def _supervised(work: Callable[[FastAPI], Awaitable[None]], app: FastAPI) -> None:
    """Run a background worker for the life of the process: one that fails is logged and started
    again after a pause, never silently gone."""
    while True:
        try:
            await work(app)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background worker failed; restarting it", worker=work.__name__)
        await asyncio.sleep(RESTART_PAUSE_SECONDS)


# What every answer tells the browser: no type sniffing, no framing, no referrer sent on, scripts
# only from the service itself (Swagger UI starts itself with an inline script, so /docs alone
# may run one), and nothing sent with a token kept in any cache.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_POLICY = PAGE_POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")


def _protect(app: FastAPI) -> None:
    """Added last, so it wraps every other middleware: the body guard's 413 and 415 and the 500 of
    an unhandled error (which Starlette answers outside every middleware) carry the headers too."""
    app.add_middleware(ProtectHeaders)


class ProtectHeaders:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        token = any(k.lower() == b"authorization" for k, _ in scope["headers"])
        started = False

        async def protected(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in (
                    ("X-Content-Type-Options", "nosniff"),
                    ("X-Frame-Options", "DENY"),
                    ("Referrer-Policy", "no-referrer"),
                    ("Content-Security-Policy", DOCS_POLICY if path.startswith("/docs") else PAGE_POLICY),
                ):
                    if name not in headers:
                        headers[name] = value
                if token:
                    headers["Cache-Control"] = "no-store"
                if expires := scope.get("state", {}).get("token_expires_at"):
                    headers[EXPIRES_HEADER] = format_datetime(expires, usegmt=True)
            await send(message)

        try:
            await self.app(scope, receive, protected)
        except Exception as exc:
            if started:
                raise
            response = await problems.on_unexpected(Request(scope), exc)
            await response(scope, receive, protected)


def _instrument(app: FastAPI, service: str) -> None:
    @app.middleware("http")
    async def measure(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - started
        route = getattr(request.scope.get("route"), "path", "unmatched")
        submission_id = request.scope.get("path_params", {}).get("submission_id")
        tracing.tag(submission_id)
        HTTP_REQUESTS.labels(service, request.method, route, response.status_code).inc()
        HTTP_LATENCY.labels(service, request.method, route).observe(elapsed)
        if route not in QUIET_ROUTES:
            log.info(
                "request",
                method=request.method,
                route=route,
                status=response.status_code,
                ms=round(elapsed * 1000, 1),
                submission_id=submission_id,
            )
        return response


def _health_router(service: str, sources: list[Source]) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @router.get("/readyz", responses=problems.declared(503))
    async def readyz(request: Request) -> dict:
        state = request.app.state
        try:
            await asyncio.wait_for(state.mongo.admin.command("ping"), 2)
            database = True
        except Exception:
            database = False
        broker = await state.broker.ping(timeout=2)
        if not (database and broker):
            raise problems.Problem(503, "Not ready", f"database={database} broker={broker}")
        return {"status": "ready", "database": database, "broker": broker}

    @router.get("/metrics", response_class=PlainTextResponse)
    async def metrics(request: Request) -> Response:
        """Prometheus metrics, in its text exposition format (shared.observability)."""
        return Response(await scrape(request.app, service, sources), media_type=CONTENT_TYPE_LATEST)

    return router


def run(name: str, build: Callable[[Settings], FastAPI], settings: Settings) -> None:
    """The entry point of a service process: `python -m services.NAME`. Its port is bound with
    SO_REUSEPORT, so that several replicas of a service on one machine all serve it (the kernel
    spreads connections over them) and any one of them can die without the port going dark."""
    configure(name, settings.log_level)
    tracing.configure(name, settings)
    app = build(settings)
    config = uvicorn.Config(app, log_config=None, access_log=False)
    uvicorn.Server(config).run(sockets=[shared_port(settings.host, settings.port_of(name))])


def shared_port(host: str, port: int) -> socket.socket:
    """A listening socket that other processes may bind to the same address too."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock
