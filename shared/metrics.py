"""Prometheus metrics every service exposes at /metrics."""

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "gongkai_http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "gongkai_http_request_seconds", "Time to answer an HTTP request", ["service", "method", "route"]
)
EVENTS_CONSUMED = Counter(
    "gongkai_events_consumed_total", "Events handled by a consumer", ["service", "type", "outcome"]
)
EVENTS_PUBLISHED = Counter("gongkai_events_published_total", "Events the outbox relay published", ["type"])
