"""Bodies of `/v1/subscriptions` (outbound webhooks): what the handlers read, and the answers they give.

The request models are what `service.web.subscriptions` validates with (a
field of the wrong type or value is a 422 naming it); the answer models are
the published contract (JSON Schemas and OpenAPI, generated from them), and
tests validate real answers against them. Every model forbids extra keys.

A subscription's secret appears in two answers only: the 201 of its creation
and the answer of a rotation. Every other answer leaves it out, so a list or
a log line never carries it.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from taxonomy.models import utc_text

from .pages import Page

_STRICT = ConfigDict(extra="forbid")
SUBSCRIPTION_ID = r"^sub_[0-9a-f]{24}$"
SECRET = r"^whsec_[A-Za-z0-9+/]{43}=$"  # base64 of 32 bytes
MAX_URL = 2048
MAX_OVERLAP = 7 * 24 * 3600
MAX_PATTERNS = 32  # service.outbound.filters.MAX_PATTERNS (a test keeps them equal)
_FILTER = ("routing-key patterns `<status>.<exception_class|none>.<carrier>` as on the bus: `*` is exactly one "
           "word, `#` zero or more (`delivered.#`, `exception.#`, `*.*.ups`); an event is sent when any pattern "
           "matches. At most 32 patterns")
_URL = (f"where events are POSTed: http or https, at most {MAX_URL} characters, no user:password; every address "
        "the host resolves to must be public unless CARRIER_EVENTS_OUTBOUND_ALLOW_NETS allows it")


class SubscriptionIn(BaseModel):
    """Body of `POST /v1/subscriptions`."""

    model_config = ConfigDict(extra="forbid", serialize_by_alias=True, validate_by_name=True)

    url: str = Field(min_length=1, max_length=MAX_URL, description=_URL)
    filter: list[str] = Field(default=["#"], min_length=1, max_length=MAX_PATTERNS,
                              description=_FILTER + "; default `#`: every event")
    description: str = Field(default="", max_length=500, description="for people: whose endpoint this is")
    from_: Literal["head", "beginning"] = Field(default="head", alias="from", description=(
        "`head` (default): events committed after the subscription is created; `beginning`: the whole feed "
        "the store still holds, oldest first"))


class SubscriptionPatch(BaseModel):
    """Body of `PATCH /v1/subscriptions/{id}`: the fields to change (null is refused; leave a field out to keep
    it). `enabled: true` also clears the disabled reason and the failing streak."""

    model_config = _STRICT

    url: str | None = Field(default=None, min_length=1, max_length=MAX_URL, description=_URL)
    filter: list[str] | None = Field(default=None, min_length=1, max_length=MAX_PATTERNS, description=_FILTER)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(default=None, description=(
        "false: deliveries stop (the cursor stays where it is); true: they resume from the cursor"))

    @field_validator("url", "filter", "description", "enabled")
    @classmethod
    def _not_null(cls, value: object) -> object:
        """Runs for given fields only (defaults are not validated): an explicit null is refused, named."""
        if value is None:
            raise ValueError("null is not a value; leave the field out to keep it")
        return value


class RotateSecret(BaseModel):
    """Body of `POST /v1/subscriptions/{id}/rotate-secret` (optional)."""

    model_config = _STRICT

    overlap_seconds: int = Field(default=86400, ge=0, le=MAX_OVERLAP, description=(
        "how long deliveries are also signed with the secret being replaced (a second `v1,` signature), so the "
        "receiver can switch without a gap; 0: the old secret stops at once"))


class SubscriptionRedeliver(BaseModel):
    """Body of `POST /v1/subscriptions/{id}/redeliver`."""

    model_config = _STRICT

    event_id: str = Field(min_length=1, max_length=200, description="the CloudEvent `id` (= `webhook-id`)")


class SubscriptionReplay(BaseModel):
    """Body of `POST /v1/subscriptions/{id}/replay`: exactly one of `after` and `since`."""

    model_config = _STRICT

    after: int | None = Field(default=None, ge=0, le=2**62, description=(
        "a feed position (`next` of `GET /v1/events`): deliveries start with the event after it"))
    since: str | None = Field(default=None, max_length=64, description=(
        "an RFC 3339 time with an offset (`2026-03-01T00:00:00Z`): deliveries start with the first event "
        "committed at or after it"))

    @field_validator("since")
    @classmethod
    def _rfc3339(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("must be an RFC 3339 time (`2026-03-01T00:00:00Z`)") from None
        if moment.tzinfo is None:
            raise ValueError("must carry an offset (`Z` or `+01:00`)")
        try:
            return utc_text(moment.astimezone(timezone.utc))  # the store's one spelling of an instant
        except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first representable UTC instant
            raise ValueError("out of the range of times") from None

    @model_validator(mode="after")
    def _exactly_one(self) -> SubscriptionReplay:
        given = [name for name in ("after", "since") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `after` (a feed position) and `since` (an RFC 3339 time)")
        return self


class SubscriptionView(BaseModel):
    """A subscription as `GET /v1/subscriptions/{id}` answers it (never with its secret)."""

    model_config = _STRICT

    id: str = Field(pattern=SUBSCRIPTION_ID)
    url: str
    filter: list[str]
    description: str
    enabled: bool
    state: Literal["active", "failing", "disabled"] = Field(description=(
        "`failing`: enabled, but the latest attempt failed and is retried at `next_attempt_at`"))
    disabled_reason: str | None = Field(description="why deliveries stopped (given up after failing too long, "
                                        "or disabled through the API); null while enabled")
    disabled_at: AwareDatetime | None
    failing_since: AwareDatetime | None = Field(description="the first failure of the current streak; null when "
                                                "the latest attempt succeeded")
    next_attempt_at: AwareDatetime | None
    last_error: str | None = Field(description="the latest failure: the receiver's status, a timeout, a refused "
                                   "connection, a redirect not followed")
    cursor: int = Field(ge=0, description="the feed position up to which every matching event was delivered")
    lag: int = Field(ge=0, description="feed positions committed after the cursor (matching or not)")
    previous_secret_until: AwareDatetime | None = Field(description=(
        "while ahead, deliveries carry a second signature with the secret replaced by the latest rotation"))
    created_at: AwareDatetime
    updated_at: AwareDatetime


class SubscriptionCreated(SubscriptionView):
    """`201` of `POST /v1/subscriptions`: the subscription with its signing secret, shown this once."""

    secret: str = Field(pattern=SECRET, description=(
        "Standard Webhooks secret: verify `webhook-signature` with it (kept by the service; not shown again)"))


class SubscriptionList(Page[SubscriptionView]):
    """`GET /v1/subscriptions`, by id."""


class SecretRotated(BaseModel):
    """`POST /v1/subscriptions/{id}/rotate-secret`: the new secret, shown this once."""

    model_config = _STRICT

    id: str = Field(pattern=SUBSCRIPTION_ID)
    secret: str = Field(pattern=SECRET)
    previous_secret_until: AwareDatetime | None = Field(description=(
        "until then deliveries are signed with both secrets; null when the overlap is 0"))


class SubscriptionAttempt(BaseModel):
    """One POST to the subscriber, as the delivery log keeps it."""

    model_config = _STRICT

    seq: int = Field(ge=0, description="the event's feed position; 0 for a test event")
    event_id: str = Field(description="the CloudEvent id, sent as `webhook-id`")
    attempt: int = Field(ge=1, description="1 for the first try of this event")
    ok: bool = Field(description="the receiver answered 2xx")
    status: int | None = Field(description="the receiver's HTTP status; null when no answer came")
    latency_ms: float = Field(ge=0)
    error: str | None
    at: AwareDatetime


class DeliveryLog(Page[SubscriptionAttempt]):
    """`GET /v1/subscriptions/{id}/deliveries`: the attempts, newest first."""


class RedeliveryQueued(BaseModel):
    """`202` of `POST /v1/subscriptions/{id}/redeliver`: the event is sent once more, outside the cursor."""

    model_config = _STRICT

    id: str = Field(pattern=SUBSCRIPTION_ID)
    event_id: str


class ReplayStarted(BaseModel):
    """`202` of `POST /v1/subscriptions/{id}/replay`: the cursor was moved; deliveries go on from it."""

    model_config = _STRICT

    id: str = Field(pattern=SUBSCRIPTION_ID)
    cursor: int = Field(ge=0, description="the new cursor: the next event sent is the first matching one after it")
    lag: int = Field(ge=0)


# Published name (JSON Schema file `<name>.schema.json`) -> model, in a stable order.
SUBSCRIPTION_BODIES: dict[str, type[BaseModel]] = {
    "subscription-request.v1": SubscriptionIn,
    "subscription-change.v1": SubscriptionPatch,
    "subscription.v1": SubscriptionView,
    "subscription-created.v1": SubscriptionCreated,
    "subscription-list.v1": SubscriptionList,
    "subscription-rotate.v1": RotateSecret,
    "subscription-secret.v1": SecretRotated,
    "subscription-deliveries.v1": DeliveryLog,
    "subscription-attempt.v1": SubscriptionAttempt,
    "subscription-redeliver.v1": SubscriptionRedeliver,
    "subscription-redelivery.v1": RedeliveryQueued,
    "subscription-replay.v1": SubscriptionReplay,
    "subscription-replayed.v1": ReplayStarted,
}
