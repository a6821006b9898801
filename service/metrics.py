"""Business metrics in Prometheus text format: are events flowing, which carrier drifts, what piles up.

Counters and histograms live in one module-level registry per process
(`serve` and each `worker` count what they did; a scrape of each process
adds up). Backlogs (inbox by state, unsent outbox, DLQ) are read from the
store at scrape time, so any process sharing the store reports the same
figures for them.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE  # noqa: F401  (re-exported for the handler)
from prometheus_client import (CollectorRegistry, Counter, Gauge, GCCollector, Histogram, PlatformCollector,
                               ProcessCollector, generate_latest)

REGISTRY = CollectorRegistry(auto_describe=True)
# The process's own series, the same in `serve` and `worker`: process_cpu_seconds_total,
# process_resident_memory_bytes, process_open_fds, ... (Linux /proc), python_gc_* and python_info.
ProcessCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
_NS = "carrier_events"
# Seconds: from a few milliseconds (a stream through one process) to a day (a carrier catching up).
_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 86400)

WEBHOOKS = Counter(f"{_NS}_webhooks", "Webhook requests by source and outcome (accepted, duplicate, "
                   "unauthenticated, rate_limited, too_large, ...)", ["source", "outcome"], registry=REGISTRY)
DOCUMENTS = Counter(f"{_NS}_documents", "Stored documents normalized, by carrier, parser, result "
                    "(normalized, quarantined, failed) and fallback level (0 = the specific parser)",
                    ["carrier", "parser", "result", "fallback"], registry=REGISTRY)
UNMAPPED = Counter(f"{_NS}_unmapped_codes", "Carrier events whose code and text no mapping rule knew",
                   ["carrier"], registry=REGISTRY)
EVENTS = Counter(f"{_NS}_events", "New normalized events stored (each event_id once)", ["carrier", "status"],
                 registry=REGISTRY)
PUBLISHED = Counter(f"{_NS}_events_published", "Events confirmed by the broker (RabbitMQ mode)", ["carrier"],
                    registry=REGISTRY)
DUPLICATES = Counter(f"{_NS}_duplicates_dropped", "Duplicates recognized and dropped: webhook (same body or "
                     "delivery id), event (event_id already stored), relayed (a stored scan through another route)", ["kind"], registry=REGISTRY)
RETRIES = Counter(f"{_NS}_retries", "Documents sent round again after a failure, by stage", ["stage"],
                  registry=REGISTRY)
EVENT_LAG = Histogram(f"{_NS}_event_lag_seconds", "Document received -> its new events committed (the feed "
                      "serves them from then) or published (confirmed by the broker)", ["path"],
                      buckets=_LAG_BUCKETS, registry=REGISTRY)
CARRIER_LAG = Histogram(f"{_NS}_carrier_lag_seconds", "Event occurred (carrier's scan time) -> received by us",
                        ["carrier"], buckets=_LAG_BUCKETS, registry=REGISTRY)
BACKLOG = Gauge(f"{_NS}_backlog", "Documents and events waiting, by queue (inbox_pending, inbox_claimed, "
                "inbox_queued, outbox_unsent)", ["queue"], registry=REGISTRY)
DLQ = Gauge(f"{_NS}_dlq_documents", "Documents quarantined or dead, waiting for an operator", ["state"],
            registry=REGISTRY)
POLLS = Counter(f"{_NS}_polls", "Tracking numbers polled, by carrier and outcome (ok, rate_limited, "
                "unavailable, auth_failed, rejected, breaker_open)", ["carrier", "outcome"], registry=REGISTRY)
BREAKER = Gauge(f"{_NS}_poll_breaker_state", "Circuit breaker per carrier API: 0 closed, 1 half-open, 2 open",
                ["carrier"], registry=REGISTRY)
RECONCILED = Counter(f"{_NS}_reconciliation_polls", "Silent webhook-fed shipments given a poll",
                     registry=REGISTRY)
ESCALATIONS = Counter(f"{_NS}_escalations", "Escalation changes by the policy: opened, auto_resolved, "
                      "sla_breached", ["change"], registry=REGISTRY)
OPEN_ESCALATIONS = Gauge(f"{_NS}_open_escalations", "Escalations not resolved, by exception class, severity and "
                         "whether past their SLA", ["exception_class", "severity", "breached"], registry=REGISTRY)
NOTIFICATIONS = Counter(f"{_NS}_notifications", "Customer notifications by outcome: pending (queued), sent, "
                        "retrying, failed, skipped (no recipient), suppressed (a repeat)", ["state"],
                        registry=REGISTRY)
STORED_EVENTS = Gauge(f"{_NS}_stored_events", "Events in the store", registry=REGISTRY)
# Outbound webhooks (service.outbound), labelled by subscription id: as many series as subscriptions.
WEBHOOK_DELIVERIES = Counter(f"{_NS}_webhook_deliveries", "Outbound webhook requests by subscription and outcome "
                             "(delivered: 2xx; failed: anything else, retried)", ["subscription", "outcome"],
                             registry=REGISTRY)
WEBHOOK_DELIVERY_SECONDS = Histogram(f"{_NS}_webhook_delivery_seconds", "Event committed -> answered 2xx by a "
                                     "subscriber (retries included)", buckets=_LAG_BUCKETS, registry=REGISTRY)
WEBHOOK_LAG = Gauge(f"{_NS}_webhook_lag_events", "Feed events a subscription has not got past yet (feed head - "
                    "its cursor; read from the store, the same in every process)", ["subscription"], registry=REGISTRY)
WEBHOOK_DISABLED = Gauge(f"{_NS}_webhook_subscription_disabled", "1 while a subscription is disabled (given up "
                         "after failing, or by an operator)", ["subscription"], registry=REGISTRY)

_webhook_children: dict[tuple[str, str], object] = {}


def webhook(source: str, outcome: str) -> None:
    child = _webhook_children.get((source, outcome))
    if child is None:  # a handful of label pairs: bind each once, the hot path is a dict lookup
        child = _webhook_children[(source, outcome)] = WEBHOOKS.labels(source, outcome)
    child.inc()  # type: ignore[attr-defined]


def set_backlog(counts: Mapping[str, int]) -> None:
    for queue in ("inbox_pending", "inbox_claimed", "inbox_queued", "outbox_unsent"):
        BACKLOG.labels(queue).set(counts.get(queue, 0))
    for state in ("quarantined", "dead"):
        DLQ.labels(state).set(counts.get(f"inbox_{state}", 0))
    STORED_EVENTS.set(counts.get("events", 0))


def set_open_escalations(counts: Iterable[tuple[str, str, bool, int]]) -> None:
    """Replace the gauge's series: a class with no open escalation left must read as gone, not stale."""
    OPEN_ESCALATIONS.clear()
    for kind, severity, breached, count in counts:
        OPEN_ESCALATIONS.labels(kind, severity, "true" if breached else "false").set(count)


def observe_lags(path: str, received: Iterable[float], now: float | None = None) -> None:
    """Lag of documents received at these epoch seconds (the store records them to the microsecond)."""
    now = time.time() if now is None else now
    child = EVENT_LAG.labels(path)
    for stamp in received:
        child.observe(max(0.0, now - stamp))


def exposition() -> bytes:
    return generate_latest(REGISTRY)
