"""The broker factory and the one way domain events leave a process."""

from collections.abc import Iterable

from faststream.rabbit import Channel, RabbitBroker, RabbitPublisher
from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware

from shared.events import Envelope
from shared.settings import Settings
from shared.topology import events_exchange, topology_of
from shared.tracing import about

# Why a message that the service itself gave up on (not the broker) is in its DLQ.
REASON_HEADER = "x-gongkai-reason"


PREFETCH = 16  # messages a consumer is given before it acknowledges any


def create_broker(settings: Settings, prefetch: int = PREFETCH, logger=None) -> RabbitBroker:
    """A broker whose publishes are confirmed and whose unroutable messages raise; traced (trace
    context in each message's headers) when shared.tracing is on. Its consumer (on the default
    channel, where the service's queue is declared) takes `prefetch` at once."""
    return RabbitBroker(
        settings.rabbitmq_url,
        default_channel=Channel(publisher_confirms=True, on_return_raises=True, prefetch_count=prefetch),
        logger=logger,
        middlewares=(RabbitTelemetryMiddleware(),) if settings.otlp_endpoint else (),
    )


def event_publishers(
    broker: RabbitBroker, settings: Settings, announced: Iterable[type[Envelope]]
) -> dict[str, RabbitPublisher]:
    """One documented publisher per event type a service announces: persistent, mandatory (a
    message no queue takes raises instead of vanishing), confirmed by the broker."""
    publishers = {}
    for event_type in announced:
        routing_key = event_type.model_fields["type"].default
        publishers[routing_key] = broker.publisher(
            exchange=events_exchange(settings),
            routing_key=routing_key,
            persist=True,
            mandatory=True,
            content_type="application/json",
            schema=event_type,
            title=routing_key,
            description=(event_type.__doc__ or "").strip() or None,
        )
    return publishers


async def publish_event(publishers: dict[str, RabbitPublisher], event: Envelope) -> None:
    """Published in a span of its own that names the item (the relay's publish starts a trace)."""
    with about(f"relay {event.type}", event.submission_id):
        await publishers[event.type].publish(
            event.model_dump(mode="json"), correlation_id=event.correlation_id, message_id=str(event.event_id)
        )


async def dead_letter(
    broker: RabbitBroker, settings: Settings, service: str, message: dict, reason: str
) -> None:
    """Put a message the service gave up on into its own DLQ, where `gongkai dlq list` shows it
    with `reason` and `gongkai dlq replay` sends it back once the cause is fixed."""
    topology = topology_of(service, settings)
    await broker.publish(
        message,
        exchange=topology.dead_letters,
        routing_key=topology.queue.name,
        persist=True,
        mandatory=True,
        content_type="application/json",
        message_id=message.get("event_id"),
        headers={REASON_HEADER: reason},
    )
