"""`gongkai dlq …`: what ended in a dead-letter queue, and sending it back once the cause is fixed."""

import asyncio
import json

import aio_pika
import typer

from cli.command import App, one_of
from shared.broker import REASON_HEADER
from shared.settings import get_settings
from shared.topology import SUBSCRIPTIONS

app = App(help="Dead-letter queues: list what failed, replay it.")
SERVICES = tuple(SUBSCRIPTIONS)


def _why(message: aio_pika.abc.AbstractIncomingMessage) -> dict:
    headers = message.headers or {}
    deaths = headers.get("x-death") or [{}]
    first = deaths[0]
    return {
        "reason": str(headers.get(REASON_HEADER) or first.get("reason", "")),
        "times": int(first.get("count", 0) or 0),
        "routing_key": (first.get("routing-keys") or [""])[0],
    }


def _summary(service: str, message: aio_pika.abc.AbstractIncomingMessage) -> dict:
    try:
        body = json.loads(message.body)
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    return {
        "service": service,
        "event_id": body.get("event_id"),
        "type": body.get("type"),
        "submission_id": body.get("submission_id"),
        **_why(message),
        "bytes": len(message.body),
    }


async def _take(channel, service: str, limit: int) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Up to `limit` messages of the service's DLQ, not yet acknowledged (closing returns them)."""
    queue = await channel.get_queue(f"{get_settings().namespace}.{service}.dlq", ensure=True)
    taken = []
    while len(taken) < limit and (message := await queue.get(no_ack=False, fail=False)) is not None:
        taken.append(message)
    return taken


async def _list(services: tuple[str, ...], limit: int) -> list[dict]:
    connection = await aio_pika.connect(get_settings().rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        return [_summary(s, m) for s in services for m in await _take(channel, s, limit)]


async def _replay(service: str, limit: int) -> tuple[int, int]:
    """Each message back onto its service's own queue (not the exchange: the other services
    handled it already); acknowledged in the DLQ only once the broker confirmed the resend."""
    settings = get_settings()
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        messages = await _take(channel, service, limit)
        for done, message in enumerate(messages, start=1):
            resend = aio_pika.Message(
                message.body,
                content_type=message.content_type,
                message_id=message.message_id,
                correlation_id=message.correlation_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await channel.default_exchange.publish(
                resend, routing_key=f"{settings.namespace}.{service}", mandatory=True
            )
            await message.ack()
            typer.echo(f"  replayed {done}/{len(messages)}: {_summary(service, message)['type']}", err=True)
        return len(messages), await _remaining(channel, service)


async def _remaining(channel, service: str) -> int:
    queue = await channel.declare_queue(f"{get_settings().namespace}.{service}.dlq", passive=True)
    return queue.declaration_result.message_count


def _tries(times: int) -> str:
    return f" after {times} tries" if times else ""  # the broker counts; a service's own give-up does not


@app.command("list")
def list_(
    service: str = typer.Argument(
        None, help=f"One of {', '.join(SERVICES)}; all when omitted", callback=one_of(SERVICES)
    ),
    limit: int = typer.Option(100, min=1, help="At most this many per queue"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line"),
) -> None:
    """List dead-lettered messages: event, submission, why, how often it was tried."""
    services = (service,) if service else SERVICES
    rows = asyncio.run(_list(services, limit))
    for row in rows:
        typer.echo(
            json.dumps(row, ensure_ascii=False)
            if as_json
            else f"{row['service']:8} {row['type'] or '(not an event)':24} {row['submission_id'] or '-':26} "
            f"{row['reason']}{_tries(row['times'])}"
        )
    if not as_json:
        typer.echo(f"{len(rows)} dead-lettered message(s)")


@app.command()
def replay(
    service: str = typer.Argument(..., help=f"One of {', '.join(SERVICES)}", callback=one_of(SERVICES)),
    limit: int = typer.Option(1000, min=1, help="At most this many"),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON"),
) -> None:
    """Send dead-lettered messages back to their service, once the cause is fixed."""
    replayed, remaining = asyncio.run(_replay(service, limit))
    if as_json:
        typer.echo(json.dumps({"service": service, "replayed": replayed, "remaining": remaining}))
    else:
        typer.echo(f"replayed {replayed} message(s) to {service}; {remaining} left in its DLQ")
