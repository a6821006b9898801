"""Service settings: flags, else `CARRIER_EVENTS_*` environment variables, else safe defaults.

One typed layer: `Settings` holds every setting with its type and default; `load` reads the environment
by the rules of `service.envvars` (errors name the variable, unknown `CARRIER_EVENTS_*` names and bad
booleans are refused, secrets may come from `<NAME>_FILE`); `service.settings_view` shows the result.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from taxonomy.carriers import registry

from .envvars import POLL_PREFIX, POLL_SETTINGS, PREFIX, EnvReader, unknown_names
from .outbound.guard import parse_nets

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
    # At SIGTERM `/readyz` answers 503 this long before the server stops, so a load balancer checking it
    # takes the node out of rotation while it still answers (service.drain); 0: stop at once.
    drain_seconds: float = 2.0
    sqlite_synchronous: str = "FULL"  # FULL: a 202 survives power loss, not just a crash
    worker_port: int = 9101  # a `worker`'s /metrics, /healthz, /readyz (on `host`); 0: not served
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
    # Outbound webhooks (service.outbound): subscribers' URLs receive matching events, signed.
    webhooks_out: bool = True  # False: this process delivers none (another process sharing the store does)
    # Networks subscriber URLs may reach besides public addresses (CIDRs, comma-separated): an internal OMS.
    outbound_allow_nets: str = ""
    outbound_concurrency: int = 8  # requests in flight per subscription (different shipments)
    outbound_timeout: float = 10.0  # seconds per delivery request
    outbound_give_up: float = 259_200.0  # seconds of failing without a success before a subscription is disabled
    outbound_log_keep: int = 10_000  # delivery-log attempts kept per subscription (the newest)
    outbound_log_days: float = 7.0  # delivery-log attempts older than this are deleted whatever their number

    def __post_init__(self) -> None:
        problems = []
        if self.sqlite_synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            problems.append(f"{PREFIX}SQLITE_SYNCHRONOUS must be OFF, NORMAL, FULL or EXTRA, "
                            f"not {self.sqlite_synchronous!r}")
        if self.log_format not in ("text", "json"):
            problems.append(f"{PREFIX}LOG_FORMAT must be text or json, not {self.log_format!r}")
        if self.trace_exporter not in ("none", "console", "otlp"):
            problems.append(f"{PREFIX}TRACE_EXPORTER must be none, console or otlp, not {self.trace_exporter!r}")
        if not 0 <= self.port <= 65535:
            problems.append(f"{PREFIX}PORT={self.port}: not a port number (0-65535)")
        for prefix, name in _PER_SOURCE.items():
            unknown = sorted(set(getattr(self, name)) - set(SOURCES))
            if unknown:
                problems.append(f"{PREFIX}{prefix}<SOURCE>: unknown webhook source(s) {', '.join(unknown)}; "
                                f"known: {', '.join(SOURCES)}")
        unknown = sorted(set(self.open_sources) - set(SOURCES))
        if unknown:
            problems.append(f"{PREFIX}OPEN_SOURCES: unknown webhook source(s) {', '.join(unknown)}; "
                            f"known: {', '.join(SOURCES)}")
        try:
            parse_nets(self.outbound_allow_nets)
        except ValueError as exc:
            problems.append(f"{PREFIX}OUTBOUND_ALLOW_NETS: {exc}")
        if self.outbound_concurrency < 1:
            problems.append(f"{PREFIX}OUTBOUND_CONCURRENCY must be at least 1")
        if self.outbound_log_keep < 1 or self.outbound_log_days <= 0:
            problems.append(f"{PREFIX}OUTBOUND_LOG_KEEP must be at least 1 and {PREFIX}OUTBOUND_LOG_DAYS above 0")
        if self.outbound_timeout <= 0 or self.outbound_give_up <= 0:
            problems.append(f"{PREFIX}OUTBOUND_TIMEOUT and {PREFIX}OUTBOUND_GIVE_UP must be above 0")
        if problems:
            raise ValueError("; ".join(problems))

    def max_body_for(self, source: str) -> int:
        return self.max_body_by_source.get(source, self.max_body_bytes)

    def rate_for(self, source: str) -> float:
        return self.rates.get(source, self.rate_limit)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **flags: object) -> Settings:
        """Environment first, then flags given (not None) on top; ValueError naming every wrong variable."""
        return load(env, **flags)[0]


# Variables with the source as suffix (`CARRIER_EVENTS_SECRET_UPS`) -> the mapping they fill.
_PER_SOURCE = {"SECRET_": "secrets", "AUTH_": "auth", "MAX_BODY_BYTES_": "max_body_by_source", "RATE_LIMIT_": "rates"}
_PER_SOURCE_KIND = {"secrets": "words", "auth": "str", "max_body_by_source": "int", "rates": "float"}
# Settings holding secrets: also read from `<NAME>_FILE`, and masked when shown (`carrier-events config`).
SECRET_FIELDS = frozenset({"admin_token", "cs_token", "api_token", "read_token", "metrics_token", "smtp_password",
                           "notify_webhook_secret", "ticket_webhook_secret", "secrets"})
URL_FIELDS = frozenset({"db", "amqp_url"})  # may carry a password: from files too, the password masked
FILE_FIELDS = SECRET_FIELDS | URL_FIELDS | {"smtp_username"}
POLL_CARRIERS: tuple[str, ...] = tuple(registry().poll_clients())


def variable(name: str) -> str:
    """The environment variable of a (non per-source) setting."""
    return PREFIX + name.upper()


def _kind(name: str) -> str:
    default = Settings.__dataclass_fields__[name].default
    if name == "retry_delays_ms":
        return "ints"
    if name == "metrics_port":  # optional: unset serves /metrics on the main port
        return "int"
    for kind in (bool, int, float):  # bool first: it is an int too
        if isinstance(default, kind):
            return kind.__name__
    return "str"


def _plain_fields() -> list[str]:
    return [f.name for f in fields(Settings) if f.name not in _PER_SOURCE.values()]


def known_variables() -> dict[str, bool]:
    """Every variable the service reads -> whether it may be given as `<NAME>_FILE`."""
    names = {variable(name): name in FILE_FIELDS for name in _plain_fields()}
    for prefix, name in _PER_SOURCE.items():
        names.update({f"{PREFIX}{prefix}{source.upper()}": name in FILE_FIELDS for source in SOURCES})
    for carrier in POLL_CARRIERS:
        names.update({f"{POLL_PREFIX}{carrier.upper()}_{s.upper()}": s != "base_url" for s in POLL_SETTINGS})
    return names


def load(env: Mapping[str, str] | None = None, **flags: object) -> tuple[Settings, dict[str, str]]:
    """The settings and where each variable set came from ("env", "file", "flag"); ValueError naming
    every wrong variable (unknown names, bad values, unreadable files) at once."""
    env = os.environ if env is None else env
    reader = EnvReader(env)
    known = known_variables()
    families = {PREFIX + prefix: ("webhook source", SOURCES) for prefix in _PER_SOURCE}
    families[POLL_PREFIX] = ("polled carrier", POLL_CARRIERS)
    problems = unknown_names(env, known, [n for n, f in known.items() if f], families)
    values: dict[str, object] = {}
    for name in _plain_fields():
        if name == "open_sources":
            raw = reader.raw(variable(name))
            if raw is not None:
                names = {x.strip().lower() for x in raw.split(",") if x.strip()}
                values[name] = frozenset(SOURCES) if names == {"all"} else frozenset(names)
            continue
        value = reader.typed(variable(name), _kind(name), name in FILE_FIELDS, name in SECRET_FIELDS)
        if value is not None:
            values[name] = value
    for prefix, name in _PER_SOURCE.items():
        per_source = {}
        for source in SOURCES:
            value = reader.typed(f"{PREFIX}{prefix}{source.upper()}", _PER_SOURCE_KIND[name], name in FILE_FIELDS,
                                 name in SECRET_FIELDS)
            if value is not None:
                per_source[source] = value.strip() if isinstance(value, str) else value
        values[name] = per_source
    problems += reader.errors
    given = {k: v for k, v in flags.items() if v is not None}
    origin = dict(reader.origin)
    origin.update({variable(k): "flag" for k in given})
    try:
        settings = Settings(**{**values, **given})  # type: ignore[arg-type]
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        raise ValueError("; ".join(problems))
    return settings, origin

