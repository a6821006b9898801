"""One trace per webhook, across processes and the broker: OpenTelemetry with W3C `traceparent`.

Stages and their spans (kind): `webhook.receive` (server; a child of the
sender's `traceparent` when it sent one) -> `inbox.publish` (producer, RabbitMQ
mode) -> `normalize` (consumer in RabbitMQ mode, internal in embedded mode) ->
`event.publish` (producer, RabbitMQ mode) -> `actions.policy`. The context
crosses the gaps the way the data does: stored with the inbox row and the
outbox row (a `traceparent` column), and carried in AMQP message headers
(`traceparent`), so a trace survives a restart between stages and a worker in
another process continues it. Published shipment events carry the header too:
an OMS consumer can join the trace.

`CARRIER_EVENTS_TRACE_EXPORTER`: `none` (default: no provider, every helper
here returns at once and nothing is stored), `console`, or `otlp` (needs
`opentelemetry-exporter-otlp`; configured by the standard `OTEL_EXPORTER_OTLP_*`
variables). A provider installed by the host process (or a test) is used as it is.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

HEADER = "traceparent"
_PROPAGATOR = TraceContextTextMapPropagator()
SERVER, PRODUCER, CONSUMER, INTERNAL = SpanKind.SERVER, SpanKind.PRODUCER, SpanKind.CONSUMER, SpanKind.INTERNAL


_tracer: tuple[object, trace.Tracer] | None = None


def _current_tracer() -> trace.Tracer:
    """The tracer of the installed provider (looked up again if the provider was replaced, as tests do)."""
    global _tracer
    provider = trace.get_tracer_provider()
    if _tracer is None or _tracer[0] is not provider:
        _tracer = (provider, provider.get_tracer("carrier-events"))
    return _tracer[1]


# `trace.get_tracer_provider()` looks up an environment variable on every call while no provider is set
# (the default here): several times per webhook. The installed provider is read from where OpenTelemetry
# keeps it (as its own test helpers do), unless a provider named by that variable may have to be loaded.
_LOOKUP = not hasattr(trace, "_TRACER_PROVIDER") or "OTEL_PYTHON_TRACER_PROVIDER" in os.environ


def enabled() -> bool:
    """True once an SDK tracer provider is installed (by `configure` or by the host process)."""
    provider = trace.get_tracer_provider() if _LOOKUP else trace._TRACER_PROVIDER  # noqa: SLF001
    return isinstance(provider, TracerProvider)


def configure(exporter: str, service_name: str = "carrier-events") -> None:
    """Install a provider for `console` or `otlp`; `none` installs nothing. Safe to call again."""
    if exporter == "none" or enabled():
        return
    if exporter == "console":
        span_exporter: Any = ConsoleSpanExporter()
    elif exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            try:
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
            except ImportError:
                raise ValueError("CARRIER_EVENTS_TRACE_EXPORTER=otlp needs the opentelemetry-exporter-otlp "
                                 "package installed") from None
        span_exporter = OTLPSpanExporter()
    else:
        raise ValueError(f"unknown trace exporter {exporter!r}: none, console or otlp")
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)


def parent_context(traceparent: str | None) -> otel_context.Context | None:
    return _PROPAGATOR.extract({HEADER: traceparent}) if traceparent else None


def from_headers(headers: Mapping[str, Any] | None) -> str | None:
    """The `traceparent` of a message's or request's headers, if it is a plausible one."""
    value = (headers or {}).get(HEADER)
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return value if isinstance(value, str) and 50 <= len(value) <= 64 else None


def traceparent_of(span: Span | None) -> str | None:
    if span is None:
        return None
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def current() -> str | None:
    """The traceparent of the current span (None when tracing is off or no span is current)."""
    return traceparent_of(trace.get_current_span()) if enabled() else None


def annotate(attributes: Mapping[str, Any]) -> None:
    """Attributes on the current span, when there is one."""
    if enabled():
        trace.get_current_span().set_attributes(dict(attributes))


def start(name: str, parent: str | None, kind: SpanKind = INTERNAL,
          attributes: Mapping[str, Any] | None = None) -> Span | None:
    """A span the caller ends (stages that span a batch); None when tracing is off."""
    if not enabled():
        return None
    return _current_tracer().start_span(name, context=parent_context(parent), kind=kind,
                                        attributes=dict(attributes or {}))


@contextmanager
def span(name: str, parent: str | None = None, kind: SpanKind = INTERNAL,
         attributes: Mapping[str, Any] | None = None) -> Iterator[Span | None]:
    """A current span for a block (log lines inside carry its ids); yields None when tracing is off."""
    if not enabled():
        yield None
        return
    with _current_tracer().start_as_current_span(name, context=parent_context(parent), kind=kind,
                                      attributes=dict(attributes or {})) as current:
        yield current


def end(spans: Mapping[Any, Span | None] | list[Span | None]) -> None:
    for item in (spans.values() if isinstance(spans, Mapping) else spans):
        if item is not None:
            item.end()
