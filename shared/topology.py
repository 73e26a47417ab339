"""RabbitMQ topology: one durable topic exchange for events, one quorum queue per consuming
service with a delivery limit, and a dead-letter exchange feeding one `*.dlq` per queue."""

from dataclasses import dataclass

from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue

from shared.events import (
    Envelope,
    PublicationFailed,
    PublicationPublished,
    PublicationUpdated,
    PublicationWithdrawn,
    ReportPublished,
    ReviewApproved,
    ReviewQueued,
    ReviewRejected,
    ReviewReturned,
    SubmissionReceived,
    SubmissionRevised,
    SubmissionWithdrawn,
)
from shared.settings import Settings

# What each service announces, and what it listens to. Extend, never rename.
ANNOUNCES: dict[str, tuple[type[Envelope], ...]] = {
    "ingest": (SubmissionReceived, SubmissionRevised, SubmissionWithdrawn),
    "review": (ReviewQueued, ReviewApproved, ReviewRejected, ReviewReturned),
    "publish": (PublicationPublished, PublicationUpdated, PublicationFailed, PublicationWithdrawn),
    "stats": (ReportPublished,),
}
SUBSCRIPTIONS: dict[str, tuple[str, ...]] = {
    "ingest": ("review.*", "publication.*"),
    "review": ("submission.*",),
    "publish": ("review.approved", "submission.withdrawn", "report.published"),
    "stats": ("#",),
}


@dataclass(frozen=True)
class ServiceTopology:
    events: RabbitExchange
    dead_letters: RabbitExchange
    queue: RabbitQueue
    dead_letter_queue: RabbitQueue
    routing_keys: tuple[str, ...]


def events_exchange(settings: Settings) -> RabbitExchange:
    return RabbitExchange(f"{settings.namespace}.events", type=ExchangeType.TOPIC, durable=True)


def topology_of(service: str, settings: Settings) -> ServiceTopology:
    ns = settings.namespace
    queue_name = f"{ns}.{service}"
    keys = SUBSCRIPTIONS[service]
    queue = RabbitQueue(
        queue_name,
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=keys[0],
        arguments={
            "x-delivery-limit": settings.delivery_limit,
            "x-dead-letter-exchange": f"{ns}.dlx",
            "x-dead-letter-routing-key": queue_name,
            # At-least-once dead-lettering: a message is kept until its DLQ confirms it.
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        },
    )
    dlq = RabbitQueue(f"{queue_name}.dlq", queue_type=QueueType.QUORUM, durable=True, routing_key=queue_name)
    return ServiceTopology(
        events=events_exchange(settings),
        dead_letters=RabbitExchange(f"{ns}.dlx", type=ExchangeType.DIRECT, durable=True),
        queue=queue,
        dead_letter_queue=dlq,
        routing_keys=keys,
    )


async def declare(broker: RabbitBroker, topology: ServiceTopology) -> None:
    """Declare exchanges, the service queue with every binding, and its DLQ (all idempotent)."""
    events = await broker.declare_exchange(topology.events)
    dead_letters = await broker.declare_exchange(topology.dead_letters)
    queue = await broker.declare_queue(topology.queue)
    for key in topology.routing_keys:
        await queue.bind(events, routing_key=key)
    dlq = await broker.declare_queue(topology.dead_letter_queue)
    await dlq.bind(dead_letters, routing_key=topology.queue.name)
