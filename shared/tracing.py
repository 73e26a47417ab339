"""OpenTelemetry traces, off unless `GONGKAI_OTLP_ENDPOINT` names a collector (OTLP over HTTP).
Off, no provider is installed, no instrumentation is added to the app or the broker, and the few
spans gongkai starts itself are the API's no-op spans.

On, each HTTP request is a server span and each broker hop carries its trace context in the
message headers (FastStream's RabbitTelemetryMiddleware), so a consumer's span continues the
trace of the publish that sent it. Every span about one item carries `gongkai.submission_id`.
An event leaves a service later than the request or delivery that staged it, when the outbox
relay publishes it; the staged event keeps no trace context, so each relay publish begins a new
trace, found beside the others of its item by that attribute."""

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from shared.settings import Settings

SUBMISSION_ID = "gongkai.submission_id"
UNTRACED_ROUTES = "/healthz,/readyz,/metrics"  # polled constantly; their spans would drown the rest
tracer = trace.get_tracer("gongkai")


def configure(service: str, settings: Settings) -> None:
    """At a process's start: export its spans, batched, to the collector, when one is named."""
    if not settings.otlp_endpoint:
        return
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: f"gongkai-{service}"}))
    endpoint = f"{settings.otlp_endpoint.rstrip('/')}/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)  # flushed and shut down when the process exits


def instrument(app: FastAPI, settings: Settings) -> None:
    if settings.otlp_endpoint:
        FastAPIInstrumentor.instrument_app(app, excluded_urls=UNTRACED_ROUTES)


def about(name: str, submission_id: str, **attributes: str):
    """A span of gongkai's own about one item, `gongkai.`-prefixed attributes beside its id."""
    named = {SUBMISSION_ID: submission_id, **{f"gongkai.{key}": value for key, value in attributes.items()}}
    return tracer.start_as_current_span(name, attributes=named)


def tag(submission_id: str | None) -> None:
    """Name the item the current span is about."""
    if submission_id:
        trace.get_current_span().set_attribute(SUBMISSION_ID, submission_id)
