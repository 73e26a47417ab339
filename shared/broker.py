"""The broker factory and the one way domain events leave a process."""

from faststream.rabbit import Channel, RabbitBroker

from shared.events import Envelope
from shared.settings import Settings
from shared.topology import events_exchange


def create_broker(settings: Settings, logger=None) -> RabbitBroker:
    """A broker whose publishes are confirmed and whose unroutable messages raise."""
    return RabbitBroker(
        settings.rabbitmq_url,
        default_channel=Channel(publisher_confirms=True, on_return_raises=True, prefetch_count=16),
        logger=logger,
    )


async def publish_event(broker: RabbitBroker, settings: Settings, event: Envelope) -> None:
    """Publish persistently and wait for the broker's confirm; a return (no queue bound) raises."""
    await broker.publish(
        event.model_dump(mode="json"),
        exchange=events_exchange(settings),
        routing_key=event.type,
        persist=True,
        mandatory=True,
        message_id=str(event.event_id),
        correlation_id=event.correlation_id,
        content_type="application/json",
        message_type=event.type,
    )
