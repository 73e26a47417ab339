"""Tracing is off unless one setting names a collector: then, and only then, the app and the
broker are instrumented (what the spans carry is proven end to end in tests/e2e/test_tracing.py)."""

from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware

from services.stats.app import build
from shared.settings import Settings


def test_nothing_is_instrumented_by_default():
    app = build(Settings())
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    assert list(app.state.broker.middlewares) == []


def test_the_otlp_endpoint_instruments_http_and_the_broker():
    app = build(Settings(otlp_endpoint="http://127.0.0.1:4318"))
    assert app._is_instrumented_by_opentelemetry
    assert [type(m) for m in app.state.broker.middlewares] == [RabbitTelemetryMiddleware]
