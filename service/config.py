"""Service settings: flags, else `CARRIER_EVENTS_*` environment variables, else safe defaults."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from taxonomy.carriers import registry

PREFIX = "CARRIER_EVENTS_"

# Webhook sources of the HTTP contract (the carrier registry's entries with `service.webhook`); others: 404.
SOURCES: tuple[str, ...] = tuple(registry().webhook_sources())


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    db: str = "./data/carrier-events.db"  # a SQLite file, or a postgresql:// URL (many processes and machines)
    db_pool_size: int = 10  # PostgreSQL connections per process
    amqp_url: str | None = None  # None: embedded bus
    amqp_prefix: str = ""  # prepended to every exchange and queue name (several deployments on one broker)
    admin_token: str | None = None  # None: admin endpoints refuse everyone
    cs_token: str | None = None  # customer service (`/v1/escalations`, the console); the admin token works too
    api_token: str | None = None  # for the OMS (`/v1/trackings`); the admin token works too; neither: disabled
    # Reads (`/v1/events`, `/v1/shipments`, `/openapi.json`): this token, or the admin, API or CS token.
    read_token: str | None = None
    open_read: bool = False  # True: reads need no token (a warning at start-up: the feed names recipients)
    metrics_token: str | None = None  # set: `/metrics` needs it (or the admin token); unset: open as before
    metrics_port: int | None = None  # set: `/metrics` is served on this port only (same host), not on `port`
    max_body_bytes: int = 10 * 1024 * 1024
    normalize_batch: int = 64
    # Each stage waits this long after being woken before taking its batch, so that under a steady
    # stream one transaction, publish window or ack covers many documents instead of one each: a
    # few milliseconds of latency for a large cut in CPU per document (SQLite writes whole pages per
    # transaction; AMQP costs per frame).
    batch_linger_ms: float = 5.0
    commit_linger_ms: float = 3.0  # the same for intake's group commit (each request waits for it)
    in_process_normalizer: bool = True  # False: `worker` processes sharing the store do the normalizing
    # RabbitMQ consumer prefetch: room for the two batches the consumer overlaps (one committing, one being
    # parsed) and the next one arriving; at `normalize_batch` it would starve the overlap and leave
    # deliveries waiting in the broker while a batch commits.
    prefetch: int = 256
    delivery_limit: int = 5  # RabbitMQ quorum queue x-delivery-limit
    retry_delays_ms: tuple[int, ...] = (1_000, 10_000, 60_000)
    publish_window: int = 200  # unconfirmed publishes in flight
    shutdown_timeout: float = 15.0
    sqlite_synchronous: str = "FULL"  # FULL: a 202 survives power loss, not just a crash
    access_log: bool = False  # a log line per request (off by default: it costs more than storing the webhook)
    # Webhook authentication: a source is refused (401) unless it has a secret or is opened explicitly.
    secrets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # `_SECRET_<SOURCE>`, space-separated
    auth: Mapping[str, str] = field(default_factory=dict)  # `_AUTH_<SOURCE>`: scheme (service.signatures)
    open_sources: frozenset[str] = frozenset()  # `_OPEN_SOURCES`: comma-separated, or `all`
    signature_tolerance: float = 300.0  # seconds a signed timestamp may be off; delivery ids kept longer
    # Operations.
    maps_dir: str | None = None  # local mapping tables overlaid on the shipped ones (taxonomy.mapping)
    quarantine_unmapped: bool = False  # True: a document with an event no rule could classify waits in the DLQ
    log_format: str = "text"  # text | json (one object per line, with trace ids)
    trace_exporter: str = "none"  # none | console | otlp (needs opentelemetry-exporter-otlp installed)
    # Exception workflows.
    actions: bool = True  # False: no actions stage in this process
    policy: str | None = None  # a policy file replacing service/actions/policy.toml
    templates_dir: str | None = None  # notification templates overriding the shipped ones, per locale
    notify_file: str = "./data/notifications.jsonl"  # the file channel's output
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_sender: str = "tracking@localhost"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    notify_webhook_url: str | None = None  # the webhook channel's endpoint (signed with Standard Webhooks)
    notify_webhook_secret: str | None = None  # whsec_...
    ticket_webhook_url: str | None = None  # escalation changes POSTed here too (a ticketing system), signed
    ticket_webhook_secret: str | None = None  # whsec_...
    # Carrier polling (credentials: CARRIER_EVENTS_POLL_<CARRIER>_*, see service.carriers.config).
    poll: bool = True  # False: no poller in this process
    poll_rate: float = 5.0  # requests per second per carrier API (the carrier's quota, with margin)
    poll_lease: float = 300.0  # seconds a taken tracking is held; a poller that died leaves it due again after
    # Abuse limits.
    max_body_by_source: Mapping[str, int] = field(default_factory=dict)  # `_MAX_BODY_BYTES_<SOURCE>`
    rate_limit: float = 2_000.0  # per source; token bucket holding one second's worth; over it: 429
    rates: Mapping[str, float] = field(default_factory=dict)  # `_RATE_LIMIT_<SOURCE>`
    max_in_flight: int = 1_024  # webhook requests handled at once; over it: 503 with Retry-After
    idle_timeout: float = 15.0  # a connection that sends no complete request head for this long is closed
    body_timeout: float = 30.0  # seconds to receive a body once the head arrived; over it: 408

    def __post_init__(self) -> None:
        if self.sqlite_synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"sqlite_synchronous must be OFF, NORMAL, FULL or EXTRA, not {self.sqlite_synchronous!r}")
        if self.log_format not in ("text", "json"):
            raise ValueError(f"log_format must be text or json, not {self.log_format!r}")
        if self.trace_exporter not in ("none", "console", "otlp"):
            raise ValueError(f"trace_exporter must be none, console or otlp, not {self.trace_exporter!r}")
        for name in ("secrets", "auth", "max_body_by_source", "rates", "open_sources"):
            unknown = sorted(set(getattr(self, name)) - set(SOURCES))
            if unknown:
                raise ValueError(f"{name}: unknown webhook source(s) {', '.join(unknown)}; known: {', '.join(SOURCES)}")

    def max_body_for(self, source: str) -> int:
        return self.max_body_by_source.get(source, self.max_body_bytes)

    def rate_for(self, source: str) -> float:
        return self.rates.get(source, self.rate_limit)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **flags: object) -> Settings:
        """Environment first, then flags given (not None) on top."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name in _PER_SOURCE.values():
                continue
            raw = env.get(PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _coerce(f.name, raw)
        for prefix, name in _PER_SOURCE.items():
            values[name] = {source: _coerce_source(name, raw) for source, raw in _per_source(env, prefix).items()}
        settings = cls(**values)  # type: ignore[arg-type]
        given = {k: v for k, v in flags.items() if v is not None}
        return replace(settings, **given) if given else settings


# Variables with the source as suffix (`CARRIER_EVENTS_SECRET_UPS`) -> the mapping they fill.
_PER_SOURCE = {"SECRET_": "secrets", "AUTH_": "auth", "MAX_BODY_BYTES_": "max_body_by_source", "RATE_LIMIT_": "rates"}


def _per_source(env: Mapping[str, str], prefix: str) -> dict[str, str]:
    start = PREFIX + prefix
    return {k[len(start):].lower(): v for k, v in env.items() if k.startswith(start) and len(k) > len(start) and v}


def _coerce_source(name: str, raw: str) -> object:
    if name == "secrets":  # several secrets valid at once while a carrier rotates them
        return tuple(raw.split())
    if name == "max_body_by_source":
        return int(raw)
    if name == "rates":
        return float(raw)
    return raw.strip()


def _coerce(name: str, raw: str) -> object:
    default = Settings.__dataclass_fields__[name].default
    if name == "retry_delays_ms":
        return tuple(int(x) for x in raw.split(",") if x.strip())
    if name == "open_sources":
        names = {x.strip().lower() for x in raw.split(",") if x.strip()}
        return frozenset(SOURCES) if names == {"all"} else frozenset(names)
    if name == "metrics_port":
        return int(raw)
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw
