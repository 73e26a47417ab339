"""Prometheus metrics every service exposes at /metrics. Those that need I/O (queue depths, the
outbox backlog, subscriber lag) are not here: shared.observability reads them at scrape time."""

from prometheus_client import Counter, Histogram

# Seconds, from a blink to ten minutes: an event's age, a push to a channel.
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

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
CONSUMER_LAG = Histogram(
    "gongkai_consumer_lag_seconds",
    "Age of an event when its consumer took it (now - occurred_at)",
    ["service", "type"],
    buckets=LAG_BUCKETS,
)
CHANNEL_PUSH = Histogram(
    "gongkai_channel_step_seconds",
    "Time one step (publish, update, withdraw) took on a channel, by its outcome",
    ["channel", "step", "outcome"],
    buckets=LAG_BUCKETS,
)
SCRAPE_ERRORS = Counter(
    "gongkai_metrics_scrape_errors_total",
    "Scrape-time figures that could not be read in time (their gauges are absent from that scrape)",
    ["service", "source"],
)
