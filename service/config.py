"""Service settings: flags, else `CARRIER_EVENTS_*` environment variables, else safe defaults."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

PREFIX = "CARRIER_EVENTS_"

# Webhook sources of the HTTP contract; anything else is a 404.
SOURCES = ("ups", "fedex", "usps", "dhl", "canadapost", "easypost", "shippo", "aftership", "x12", "generic")


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    db: str = "./data/carrier-events.db"
    amqp_url: str | None = None  # None: embedded bus
    amqp_prefix: str = ""  # prepended to every exchange and queue name (several deployments on one broker)
    admin_token: str | None = None  # None: admin endpoints refuse everyone
    max_body_bytes: int = 10 * 1024 * 1024
    normalize_batch: int = 64
    # Each stage waits this long after being woken before taking its batch, so that under a steady
    # stream one transaction, publish window or ack covers many documents instead of one each: a
    # few milliseconds of latency for a large cut in CPU per document (SQLite writes whole pages per
    # transaction; AMQP costs per frame).
    batch_linger_ms: float = 5.0
    commit_linger_ms: float = 3.0  # the same for intake's group commit (each request waits for it)
    in_process_normalizer: bool = True  # False: `worker` processes sharing the store do the normalizing
    prefetch: int = 64  # RabbitMQ consumer prefetch
    delivery_limit: int = 5  # RabbitMQ quorum queue x-delivery-limit
    retry_delays_ms: tuple[int, ...] = (1_000, 10_000, 60_000)
    publish_window: int = 200  # unconfirmed publishes in flight
    shutdown_timeout: float = 15.0
    sqlite_synchronous: str = "FULL"  # FULL: a 202 survives power loss, not just a crash
    access_log: bool = False  # a log line per request (off by default: it costs more than storing the webhook)
    secrets: Mapping[str, str] = field(default_factory=dict)  # per webhook source (`_SECRET_<SOURCE>`)

    def __post_init__(self) -> None:
        if self.sqlite_synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"sqlite_synchronous must be OFF, NORMAL, FULL or EXTRA, not {self.sqlite_synchronous!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **flags: object) -> Settings:
        """Environment first, then flags given (not None) on top."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name == "secrets":
                continue
            raw = env.get(PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _coerce(f.name, raw)
        secrets = {k[len(PREFIX + "SECRET_"):].lower(): v for k, v in env.items()
                   if k.startswith(PREFIX + "SECRET_") and v}
        settings = cls(**values, secrets=secrets)  # type: ignore[arg-type]
        given = {k: v for k, v in flags.items() if v is not None}
        return replace(settings, **given) if given else settings


def _coerce(name: str, raw: str) -> object:
    default = Settings.__dataclass_fields__[name].default
    if name == "retry_delays_ms":
        return tuple(int(x) for x in raw.split(",") if x.strip())
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw
