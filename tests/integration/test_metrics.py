"""What an operator reads at /metrics to decide when to scale, on the real broker and database:
queue and DLQ depths and consumers, consumer lag, the outbox backlog, channel latency and retries,
subscriber lag; and a scrape that cannot read a figure in time leaves it out and counts the error."""

from datetime import timedelta

import aio_pika
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sandbox.platform import create_sandbox
from services.publish.app import build as publish
from services.stats.app import build as stats
from shared import observability
from shared.events import SubmissionReceived, SubmissionReceivedData, new_event, utcnow
from shared.hints import HintBoard
from shared.outbox import board_of
from shared.settings import DEV_PLATFORM_SECRET
from tests.conftest import running, serving
from tests.integration.test_publish import approved
from tests.support import EventTap, eventually, free_port
from tests.unit.factories import content

pytestmark = pytest.mark.integration


@pytest.fixture
async def platform():
    port = free_port()
    async with serving(create_sandbox(DEV_PLATFORM_SECRET, f"http://127.0.0.1:{port}"), port) as url:
        yield url


async def scraped(http: httpx.AsyncClient) -> dict[tuple[str, frozenset], float]:
    """Every sample of a scrape, by its name and labels."""
    answer = await http.get("/metrics")
    assert answer.status_code == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def figure(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def received(sid: str, age: timedelta = timedelta(0)):
    event = new_event(SubmissionReceived, sid, "ingest", SubmissionReceivedData(content=content()))
    return event.model_copy(update={"occurred_at": utcnow() - age})


async def test_queue_and_dlq_depths_and_consumer_lag_are_what_the_broker_holds(settings):
    queue, dlq = f"{settings.namespace}.stats", f"{settings.namespace}.stats.dlq"
    app = stats(settings)
    async with EventTap(settings) as tap, running(app) as http:
        samples = await scraped(http)
        assert figure(samples, "gongkai_queue_consumers", service="stats", queue=queue) == 1
        assert figure(samples, "gongkai_queue_messages", service="stats", queue=dlq) == 0

        await tap.publish(received("m-1", age=timedelta(seconds=90)))  # consumed 90 s after it happened
        lag = {"service": "stats", "type": "submission.received"}

        async def lag_seen():
            samples = await scraped(http)
            counted = figure(samples, "gongkai_consumer_lag_seconds_count", **lag)
            return counted and figure(samples, "gongkai_consumer_lag_seconds_sum", **lag) >= 90

        await eventually(lag_seen, 20, "the consumer lag of m-1")

        await tap.exchange.publish(aio_pika.Message(b"not an event"), routing_key="submission.received")

        async def dlq_depth():
            return figure(await scraped(http), "gongkai_queue_messages", service="stats", queue=dlq)

        assert await eventually(dlq_depth, 20, "the poison message in the DLQ") == 1

        for subscriber in app.state.broker.subscribers:
            await subscriber.stop()  # the consumer gone: what arrives now waits in the queue
        for n in range(7):
            await tap.publish(received(f"m-{n + 2}"))

        async def depth():
            return figure(await scraped(http), "gongkai_queue_messages", service="stats", queue=queue) == 7

        await eventually(depth, 20, "seven messages ready in the queue")
        samples = await scraped(http)
        assert figure(samples, "gongkai_queue_consumers", service="stats", queue=queue) == 0


async def test_the_outbox_backlog_counts_hinted_documents_and_the_oldest_age(settings):
    app = stats(settings)
    async with running(app) as http:
        board = board_of(app.state.db.parked)  # a board no relay of stats reads
        for n in range(3):
            await board.mark(f"d-{n}", at=utcnow() - timedelta(seconds=10 * (n + 1)))
        retry = HintBoard(app.state.db.publications_due, "due_hint")  # publish's board of publications due
        await retry.mark("p-1", at=utcnow() + timedelta(minutes=5))  # a retry, not due yet
        samples = await scraped(http)
        labels = {"service": "stats", "board": "parked_pending_events"}
        assert figure(samples, "gongkai_outbox_backlog", **labels) == 3
        assert 30 <= figure(samples, "gongkai_outbox_oldest_seconds", **labels) < 60
        labels = {"service": "stats", "board": "publications_due"}
        assert figure(samples, "gongkai_outbox_backlog", **labels) == 1
        assert figure(samples, "gongkai_outbox_oldest_seconds", **labels) == 0


async def test_a_figure_not_read_in_time_is_absent_and_counted(settings, monkeypatch):
    async with running(stats(settings)) as http:
        errors = {"service": "stats", "source": "queue_depths"}
        before = figure(await scraped(http), "gongkai_metrics_scrape_errors_total", **errors) or 0
        monkeypatch.setattr(observability, "SOURCE_SECONDS", 0)  # nothing can answer in no time
        samples = await scraped(http)
        assert not [key for key in samples if key[0] == "gongkai_queue_messages"]
        assert figure(samples, "gongkai_metrics_scrape_errors_total", **errors) == before + 1
        assert figure(samples, "gongkai_http_requests_total", service="stats", method="GET", route="/metrics",
                      status="200")  # fmt: skip


async def test_channel_latency_retries_and_subscriber_lag(settings, identities, platform):
    settings = settings.model_copy(update={"platform_url": platform})
    operator = await identities.operator()
    nobody = f"http://127.0.0.1:{free_port()}/hooks"  # a subscriber that is down
    async with EventTap(settings) as tap, running(publish(settings)) as http, httpx.AsyncClient() as peer:
        before = await scraped(http)
        created = await http.post("/v1/subscriptions", json={"url": nobody}, headers=operator)
        sid = created.json()["id"]
        await peer.put(f"{platform}/behaviour", json={"fail_status": 503, "fail_count": 1})
        await tap.publish(approved("c-1"))
        await tap.wait_for("publication.published", "c-1", count=2, seconds=30)

        def pushes(samples, channel, outcome):
            labels = {"channel": channel, "step": "publish", "outcome": outcome}
            return (figure(samples, "gongkai_channel_step_seconds_count", **labels) or 0) - (
                figure(before, "gongkai_channel_step_seconds_count", **labels) or 0
            )

        samples = await scraped(http)
        assert pushes(samples, "platform", "retryable") == 1 and pushes(samples, "platform", "ok") == 1
        assert pushes(samples, "portal", "ok") == 1 and pushes(samples, "portal", "retryable") == 0

        async def behind():
            labels = {"subscription": sid, "state": "active"}
            samples = await scraped(http)
            entries = figure(samples, "gongkai_subscription_entries_behind", **labels)
            return entries and (entries, figure(samples, "gongkai_subscription_oldest_seconds", **labels))

        entries, oldest = await eventually(behind, 15, "the subscription to fall behind")
        assert entries >= 1 and oldest > 0
