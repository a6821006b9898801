"""One trace per webhook: intake, broker, normalizer, publish and actions, seen by an in-memory exporter.

A tracer provider is installed for each test and removed afterwards, so the
rest of the suite runs with tracing off (the default: no provider).
"""
from __future__ import annotations

import asyncio

import orjson
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from service import metrics, tracing
from service.app import create_app
from service.config import SOURCES, Settings
from service.keys import ACTIONS, BUS, STORE
from tests.docs import ups_track
from tests.test_amqp_support import (  # noqa: F401 - fixtures
    AMQP_URL, RETRY_MS, aiohttp_client, broker, eventually, topology)

TN = "1Z999AA10123456784"
CARRIER_TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"  # the sender's own context


def _install(provider) -> None:
    """Set the global provider, also when one was set before (the API allows it once per process)."""
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # noqa: SLF001 - what OpenTelemetry's own test helpers reset
    trace._TRACER_PROVIDER = None  # noqa: SLF001
    if provider is not None:
        trace.set_tracer_provider(provider)


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _install(provider)
    assert tracing.enabled()
    yield exporter
    provider.shutdown()
    _install(None)
    assert not tracing.enabled()


def by_name(exporter: InMemorySpanExporter) -> dict[str, list]:
    out: dict[str, list] = {}
    for span in exporter.get_finished_spans():
        out.setdefault(span.name, []).append(span)
    return out


def parent_of(span) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_a_webhook_is_one_trace_through_the_broker_normalizer_publish_and_actions(
        spans, aiohttp_client, broker, topology, tmp_path):
    settings = Settings(db=str(tmp_path / "t.db"), amqp_url=AMQP_URL, retry_delays_ms=RETRY_MS,
                        shutdown_timeout=5.0, open_sources=frozenset(SOURCES))
    client = await aiohttp_client(create_app(settings))
    received: list[tuple[dict, dict]] = []
    channel = await broker.channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(topology.events, routing_key="#")

    async def on_message(message) -> None:
        received.append((dict(message.headers or {}), orjson.loads(message.body)))
        await message.ack()

    await queue.consume(on_message)
    doc = ups_track(TN, [("origin", "20260301", "180000")])
    published_before = metrics.PUBLISHED.labels("ups")._value.get()
    response = await client.post("/webhooks/ups", data=doc, headers={"Content-Type": "application/json",
                                                                      "traceparent": CARRIER_TRACE})
    assert response.status == 202
    await eventually(lambda: len(received) == 1, 15, lambda: "no event on shipment-events")
    await eventually(lambda: metrics.PUBLISHED.labels("ups")._value.get() == published_before + 1, 5,
                     lambda: "events_published_total did not count the confirmed event")
    await client.app[ACTIONS].act()
    await eventually(lambda: "actions.policy" in by_name(spans), 5, lambda: str(list(by_name(spans))))
    found = by_name(spans)
    [receive], [publish_raw], [normalize], [publish_event], [act] = (
        found[name] for name in ("webhook.receive", "inbox.publish", "normalize", "event.publish", "actions.policy"))
    trace_id = int(CARRIER_TRACE.split("-")[1], 16)
    assert {s.context.trace_id for s in (receive, publish_raw, normalize, publish_event, act)} == {trace_id}
    assert parent_of(receive) == int(CARRIER_TRACE.split("-")[2], 16)  # continues the sender's trace
    assert parent_of(publish_raw) == receive.context.span_id
    assert parent_of(normalize) == publish_raw.context.span_id  # carried in the message's headers
    assert parent_of(publish_event) == normalize.context.span_id  # stored with the outbox row
    assert parent_of(act) == normalize.context.span_id
    assert (receive.kind, publish_raw.kind, normalize.kind, publish_event.kind) == (
        trace.SpanKind.SERVER, trace.SpanKind.PRODUCER, trace.SpanKind.CONSUMER, trace.SpanKind.PRODUCER)
    assert receive.attributes["webhook.source"] == "ups" and receive.attributes["http.response.status_code"] == 202
    assert normalize.attributes["carrier"] == "ups" and normalize.attributes["parser"] == "ups.track_json"
    assert tuple(normalize.attributes["status"]) == ("picked_up",) and normalize.attributes["events"] == 1
    assert publish_event.attributes["messaging.rabbitmq.destination.routing_key"] == "picked_up.none.ups"
    # the OMS consumer gets the context too, to continue the trace on its side
    headers, event = received[0]
    assert headers["traceparent"] == tracing.traceparent_of(publish_event)
    assert publish_event.attributes["event.id"] == event["id"]
    await channel.close()


async def test_embedded_mode_traces_intake_normalize_and_actions(spans, aiohttp_client, tmp_path):
    client = await aiohttp_client(create_app(Settings(db=str(tmp_path / "e.db"), open_sources=frozenset(SOURCES))))
    assert (await client.post("/webhooks/ups", data=ups_track(TN, [("origin", "20260301", "180000")]))).status == 202
    await client.app[BUS].normalizer.drain()
    await client.app[ACTIONS].act()
    found = by_name(spans)
    [receive], [normalize], [act] = found["webhook.receive"], found["normalize"], found["actions.policy"]
    assert parent_of(receive) is None  # no sender context: a new trace
    assert parent_of(normalize) == receive.context.span_id and parent_of(act) == normalize.context.span_id
    assert normalize.kind == trace.SpanKind.INTERNAL


async def test_with_tracing_off_nothing_is_recorded_or_stored(aiohttp_client, tmp_path):
    assert not tracing.enabled()
    client = await aiohttp_client(create_app(Settings(db=str(tmp_path / "o.db"), open_sources=frozenset(SOURCES))))
    answer = await (await client.post("/webhooks/ups", data=ups_track(TN, [("origin", "20260301", "180000")]),
                                      headers={"traceparent": CARRIER_TRACE})).json()
    await client.app[BUS].normalizer.drain()
    [row] = await client.app[STORE].inbox_rows([int(answer["id"])])
    assert row.traceparent is None
    await asyncio.sleep(0)


def test_an_unknown_exporter_is_a_configuration_error():
    with pytest.raises(ValueError, match="none, console or otlp"):
        tracing.configure("zipkin")
