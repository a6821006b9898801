"""Notification templates and channels: the sandbox, start-up validation, locales, and real deliveries.

SMTP is a real conversation with a local aiosmtpd server; the webhook channel
posts to a local aiohttp server that verifies the Standard Webhooks signature
with the same verifier intake uses.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import stat
import time
from email import message_from_bytes, policy as email_policy
from pathlib import Path

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from service.actions.channels import (FileChannel, Recipient, SmtpChannel, WebhookChannel, message_id,
                                      parse_retry_after, send_with_retries, webhook_id)
from service.actions.policy import PolicyError
from service.actions.templates import TemplateProblem, Templates, locale_chain, sample_context
from service.app import create_app
from service.config import SOURCES, Settings
from service.signatures import StandardWebhooks

SECRET = "whsec_" + base64.b64encode(b"notification-secret-0123456789").decode()
ADA = Recipient(name="Ada Lovelace", email="ada@example.com", locale="en")


def override(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "templates"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


# --- templates -------------------------------------------------------------------------------------------------

def test_shipped_templates_validate_in_every_locale():
    templates = Templates()
    templates.validate()
    assert {"en", "fr"} <= set(templates.locales)
    assert {"delay", "delivery_attempted", "lost", "stalled", "delivered"} <= set(templates.names)


def test_the_html_part_escapes_carrier_text_and_the_text_part_keeps_it_verbatim():
    rendered = Templates().render("delay", "en", sample_context())
    assert "Severe weather conditions have delayed delivery <b>&</b>" in rendered.text
    assert rendered.html is not None and "&lt;b&gt;&amp;&lt;/b&gt;" in rendered.html and "<b>&</b>" not in rendered.html
    assert rendered.subject == "Your Example Store order 100234 is delayed"
    assert "Camille Martin" in rendered.text and "Montréal, QC, CA" in rendered.text


def test_locales_fall_back_region_to_language_to_english():
    templates = Templates()
    assert locale_chain("fr_ca") == ["fr-CA", "fr", "en"]
    assert templates.render("delay", "fr-CA", sample_context()).locale == "fr"
    french = templates.render("delay", "fr", sample_context())
    english = templates.render("delay", "de-DE", sample_context())
    assert english.locale == "en" and french.subject != english.subject
    assert templates.render("delay", "../../etc", sample_context()).locale == "en"  # not a path


def test_an_operator_override_replaces_one_file_and_adds_a_locale(tmp_path):
    root = override(tmp_path, {"en/delay.subject": "Delay for {{ shipment.tracking_number }}",
                               "de/delay.subject": "Verspätung: {{ shipment.tracking_number }}",
                               "de/delay.txt": "{{ event.description }}"})
    templates = Templates(root)
    templates.validate()
    assert templates.render("delay", "en", sample_context()).subject == "Delay for 1Z4F7W390361553013"
    assert "Severe weather" in templates.render("delay", "en", sample_context()).text  # shipped text part kept
    german = templates.render("delay", "de", sample_context())
    assert german.subject == "Verspätung: 1Z4F7W390361553013" and german.html is None


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ shipment.__class__.__init__.__globals__ }}",
    "{{ 'x' * 1000000000 }}",
    "{{ 10 ** 100000000 }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
])
def test_a_template_cannot_reach_python_internals_or_exhaust_memory(tmp_path, source):
    root = override(tmp_path, {"en/delay.subject": source})
    with pytest.raises(TemplateProblem) as caught:
        Templates(root).validate()
    file, _, message = caught.value.problems[0]
    assert file.endswith("en/delay.subject")
    assert "SecurityError" in message or "UndefinedError" in message


def test_a_broken_template_stops_the_start_with_file_and_line(tmp_path):
    root = override(tmp_path, {"en/delay.txt": "Hello\n{{ customer.name }\n"})
    settings = Settings(db=str(tmp_path / "a.db"), open_sources=frozenset(SOURCES), templates_dir=str(root))
    with pytest.raises(TemplateProblem) as caught:
        create_app(settings)
    [(file, line, message)] = caught.value.problems
    assert file.endswith("en/delay.txt") and line == 2 and "TemplateSyntaxError" in message


def test_a_misspelt_variable_is_a_start_up_error_not_a_blank(tmp_path):
    root = override(tmp_path, {"fr/lost.subject": "Colis {{ shipment.tracking_nmuber }}"})
    with pytest.raises(TemplateProblem, match="fr/lost.subject"):
        Templates(root).validate()


def test_a_policy_naming_a_missing_template_stops_the_start(tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('version = 1\n[[rules]]\nmatch = { status = "exception" }\nnotify = { template = "nope" }\n')
    settings = Settings(db=str(tmp_path / "a.db"), open_sources=frozenset(SOURCES), policy=str(policy))
    with pytest.raises(PolicyError, match="nope"):
        create_app(settings)


def test_a_policy_notifying_by_smtp_without_a_server_stops_the_start(tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('version = 1\n[[rules]]\nmatch = { status = "exception" }\n'
                      'notify = { template = "exception", channels = ["smtp"] }\n')
    settings = Settings(db=str(tmp_path / "a.db"), open_sources=frozenset(SOURCES), policy=str(policy))
    with pytest.raises(PolicyError, match="SMTP_HOST"):
        create_app(settings)


# --- file channel ----------------------------------------------------------------------------------------------

async def test_the_file_channel_appends_one_private_json_line_per_send(tmp_path):
    path = tmp_path / "out" / "notifications.jsonl"
    channel = FileChannel(path)
    rendered = Templates().render("delay", "en", sample_context())
    for key in ("k1", "k2"):
        assert (await channel.send(rendered, ADA, key)).ok
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(n["key"], n["template"], n["recipient"]["email"]) for n in lines] == [
        ("k1", "delay", "ada@example.com"), ("k2", "delay", "ada@example.com")]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


async def test_the_file_channel_reports_an_unwritable_path_without_raising(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = await FileChannel(blocker / "sub" / "n.jsonl").send(
        Templates().render("delay", "en", sample_context()), ADA, "k")
    assert not result.ok and "cannot write" in result.detail


# --- SMTP ------------------------------------------------------------------------------------------------------

class Mailbox:
    """An aiosmtpd handler that stores messages, or answers RCPT with a configured reply."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.rcpt_reply: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    mailbox = Mailbox()
    with socket.socket() as probe:  # the controller checks its server by connecting: it needs a real port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


async def test_smtp_sends_a_multipart_message_a_real_server_accepts(smtp):
    mailbox, port = smtp
    channel = SmtpChannel("127.0.0.1", port, "Example Store <tracking@example.com>")
    rendered = Templates().render("delay", "fr", sample_context())
    result = await channel.send(rendered, Recipient(name="Camille Martin", email="camille@example.com"), "key-1")
    assert result.ok, result.detail
    [(sender, recipients, raw)] = mailbox.messages
    assert sender == "tracking@example.com" and recipients == ["camille@example.com"]
    message = message_from_bytes(raw, policy=email_policy.default)
    assert message["Subject"] == rendered.subject
    assert message["Message-ID"].strip() == message_id("key-1", "example.com")
    assert message["Auto-Submitted"] == "auto-generated" and message["Content-Language"] == "fr"
    assert message.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    assert "Camille Martin" in parts["text/plain"] and "&lt;b&gt;" in parts["text/html"]


@pytest.mark.parametrize("reply, retryable", [("550 5.1.1 No such user ada@example.com", False),
                                              ("451 4.3.0 Try again later", True)])
async def test_smtp_refusals_say_whether_a_retry_can_help_and_mask_the_address(smtp, reply, retryable):
    mailbox, port = smtp
    mailbox.rcpt_reply = reply
    result = await SmtpChannel("127.0.0.1", port, "tracking@example.com").send(
        Templates().render("delay", "en", sample_context()), ADA, "key-2")
    assert not result.ok and result.retryable is retryable
    assert "ada@example.com" not in result.detail
    assert mailbox.messages == []


async def test_smtp_connection_refused_is_retryable():
    result = await SmtpChannel("127.0.0.1", 1, "tracking@example.com", timeout=2).send(
        Templates().render("delay", "en", sample_context()), ADA, "key-3")
    assert not result.ok and result.retryable


# --- webhook ---------------------------------------------------------------------------------------------------

@pytest.fixture
async def receiver(aiohttp_server):
    """A receiver that verifies signatures and answers from a script of statuses (then 204)."""
    state = {"script": [], "received": []}
    verifier = StandardWebhooks([SECRET])

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        verdict = verifier.verify(body, request.headers, request.query, time.time())
        state["received"].append((verdict, dict(request.headers), json.loads(body)))
        status, headers = state["script"].pop(0) if state["script"] else (204, {})
        return web.Response(status=status, headers=headers)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = await aiohttp_server(app)
    state["url"] = str(server.make_url("/hook"))
    return state


async def test_the_webhook_is_signed_retried_with_backoff_and_keeps_its_id(receiver):
    receiver["script"] = [(503, {}), (429, {"Retry-After": "2"})]
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    channel = WebhookChannel(receiver["url"], SECRET)
    rendered = Templates().render("delivery_attempted", "en", sample_context())
    result = await send_with_retries(channel, rendered, ADA, "evt-1|delivery_attempted", sleep=sleep,
                                     rng=lambda: 0.0)
    assert result.ok and result.attempts == 3
    assert delays[0] == 0.25 and delays[1] == 2.0  # equal-jitter backoff, then the receiver's Retry-After
    verdicts = [v for v, _, _ in receiver["received"]]
    assert all(v.ok for v in verdicts), verdicts
    assert {v.delivery_id for v in verdicts} == {"evt-1|delivery_attempted"}
    payload = receiver["received"][-1][2]
    assert payload["template"] == "delivery_attempted" and payload["recipient"]["email"] == "ada@example.com"
    assert payload["shipment"]["tracking_number"] == "1Z4F7W390361553013"


async def test_a_4xx_is_not_retried_and_a_long_retry_after_is_left_to_the_engine(receiver):
    channel = WebhookChannel(receiver["url"], SECRET)
    rendered = Templates().render("delay", "en", sample_context())
    receiver["script"] = [(400, {})]
    refused = await send_with_retries(channel, rendered, ADA, "k", sleep=asyncio.sleep)
    assert not refused.ok and not refused.retryable and refused.attempts == 1
    receiver["script"] = [(503, {"Retry-After": "3600"})]
    later = await send_with_retries(channel, rendered, ADA, "k", sleep=asyncio.sleep)
    assert not later.ok and later.retryable and later.retry_after == 3600 and later.attempts == 1


def test_webhook_ids_are_the_key_or_a_stable_digest():
    assert webhook_id("abc|delay|file") == "abc|delay|file"
    odd = webhook_id("naïve key with spaces")
    assert odd.startswith("n_") and odd == webhook_id("naïve key with spaces")


def test_retry_after_reads_seconds_and_http_dates():
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_a_malformed_webhook_secret_is_refused_when_the_channel_is_built():
    with pytest.raises(ValueError, match="whsec_"):
        WebhookChannel("https://example.com/hook", "not base64 !!")
    with pytest.raises(ValueError, match="http"):
        WebhookChannel("javascript:alert(1)", SECRET)
