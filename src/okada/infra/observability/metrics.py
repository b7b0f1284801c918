"""Prometheus metrics shared by every process (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "okada_http_requests_total", "HTTP requests by route and status", ["service", "route", "status"]
)
HTTP_DURATION = Histogram(
    "okada_http_request_duration_seconds",
    "HTTP request duration by route",
    ["service", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_PUBLISHED = Counter("okada_outbox_published_total", "Outbox rows published", ["service"])
OUTBOX_PUBLISH_FAILURES = Counter(
    "okada_outbox_publish_failures_total", "Failed outbox publish batches", ["service"]
)
OUTBOX_BACKLOG = Gauge("okada_outbox_backlog", "Outbox rows waiting to be published", ["service"])
MESSAGES_CONSUMED = Counter(
    "okada_messages_consumed_total",
    "Messages handled by consumer and outcome",
    ["consumer", "outcome"],
)
CONSUMER_LAG = Histogram(
    "okada_consumer_lag_seconds",
    "Time from event occurrence to its handling",
    ["consumer"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
