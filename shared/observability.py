"""Figures read when /metrics is scraped, for operators deciding when to scale: the depth and
consumers of the service's queue and of its DLQ, and the outbox backlog (the hints waiting on
each hint board, shared.outbox, and the age of the oldest). A service adds figures of its own
(publish: subscriber lag) as further sources.

Every source is read with a timeout: a slow database or broker must not hang the scrape. A source
that fails or is too slow is left out of that scrape (its gauges are absent, never stale or zero)
and `gongkai_metrics_scrape_errors_total` counts it."""

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import aio_pika
import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from shared.events import utcnow
from shared.metrics import SCRAPE_ERRORS
from shared.outbox import STAGED
from shared.settings import Settings
from shared.topology import topology_of

log = structlog.get_logger(__name__)

SOURCE_SECONDS = 2.0  # each source's budget; Prometheus' default scrape timeout is 10 s
QUEUE_MESSAGES = "gongkai_queue_messages"
QUEUE_CONSUMERS = "gongkai_queue_consumers"
OUTBOX_BACKLOG = "gongkai_outbox_backlog"
OUTBOX_OLDEST = "gongkai_outbox_oldest_seconds"


@dataclass(frozen=True)
class Figure:
    """One gauge sample: its metric, its help text, its labels and its value."""

    name: str
    help: str
    labels: dict[str, str]
    value: float


Source = Callable[[FastAPI], Awaitable[list[Figure]]]


async def scrape(app: FastAPI, service: str, sources: Iterable[Source]) -> bytes:
    """The process's metrics and, after them, the figures every source could read in time."""
    found = await asyncio.gather(*(_read(app, service, source) for source in sources))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot([figure for figures in found for figure in figures]))
    return generate_latest() + generate_latest(registry)


async def _read(app: FastAPI, service: str, source: Source) -> list[Figure]:
    try:
        return await asyncio.wait_for(source(app), SOURCE_SECONDS)
    except Exception as exc:  # a timeout included: the scrape goes on without this source
        SCRAPE_ERRORS.labels(service, source.__name__).inc()
        log.warning("a metrics source failed", source=source.__name__, error=repr(exc))
        return []


class _Snapshot:
    """The figures of one scrape as gauge families, for a registry of that scrape alone."""

    def __init__(self, figures: list[Figure]):
        self.figures = figures

    def collect(self):
        families: dict[str, GaugeMetricFamily] = {}
        for f in self.figures:
            family = families.get(f.name) or GaugeMetricFamily(f.name, f.help, labels=list(f.labels))
            family.add_metric(list(f.labels.values()), f.value)
            families[f.name] = family
        return families.values()


class QueueProbe:
    """Messages ready in the service's queue and its DLQ, and the consumers on each, as a passive
    declare reports them (the management API may not be enabled), on a connection of its own
    opened at the first scrape, so that a failed declare never closes a channel the service uses."""

    def __init__(self, service: str, settings: Settings):
        topology = topology_of(service, settings)
        self._service, self._url = service, settings.rabbitmq_url
        self._names = (topology.queue.name, topology.dead_letter_queue.name)
        self._connection: aio_pika.abc.AbstractConnection | None = None

    async def queue_depths(self, app: FastAPI) -> list[Figure]:
        if self._connection is None or self._connection.is_closed:
            self._connection = await aio_pika.connect(self._url)
        async with self._connection.channel() as channel:
            declared = [await channel.declare_queue(name, passive=True) for name in self._names]
        figures = []
        for name, queue in zip(self._names, declared, strict=True):
            labels, result = {"service": self._service, "queue": name}, queue.declaration_result
            figures.append(
                Figure(QUEUE_MESSAGES, "Messages ready in the queue", labels, result.message_count)
            )
            figures.append(Figure(QUEUE_CONSUMERS, "Consumers on the queue", labels, result.consumer_count))
        return figures

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


# The hint boards: the outbox's (`<collection>_<field>`, shared.outbox) and publish's publications
# due on a channel, whose hints wait until the next attempt is due.
BOARD_SUFFIXES = (*(f"_{field}" for field in STAGED), "publications_due")


def outbox(service: str) -> Source:
    """Per hint board: how many documents wait for a relay or worker, and how long the oldest of
    those already due has waited (0 when none is)."""

    async def outbox_backlog(app: FastAPI) -> list[Figure]:
        db, now = app.state.db, utcnow()
        boards = [n for n in await db.list_collection_names() if n.endswith(BOARD_SUFFIXES)]
        figures = []
        for board in sorted(boards):
            labels = {"service": service, "board": board}
            waiting = await db[board].count_documents({})
            oldest = await db[board].find({"at": {"$lte": now}}, {"at": 1}).sort("at", 1).limit(1).to_list()
            age = (now - oldest[0]["at"]).total_seconds() if oldest else 0.0
            figures.append(
                Figure(OUTBOX_BACKLOG, "Documents whose staged items wait for a relay", labels, waiting)
            )
            figures.append(Figure(OUTBOX_OLDEST, "Age of the oldest of them", labels, age))
        return figures

    return outbox_backlog
