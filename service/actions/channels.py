"""Channels that deliver one rendered notification to one recipient: a file, SMTP, a signed webhook.

Every channel answers a `SendResult` instead of raising for a delivery failure,
and says whether trying again could help: the caller (the actions engine, with
its durable notifications table) decides what to do, and `send_with_retries`
covers the short in-process retry. Every send carries the notification's
idempotency key where a receiver can see it (the webhook id, a Message-ID
derived from it, the file line), because delivery is at-least-once: after a
crash between sending and recording, the same notification goes out again and
the receiver must be able to recognise it.

Logs name the key, the channel and the outcome, never the recipient; details
quoting a server (an SMTP 550 often echoes the address) are masked with
`service.logmask` before they are logged or returned.
"""
from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import aiosmtplib
import orjson
from yarl import URL

from service.logmask import mask
from service.signatures import sign_standard_webhook

from .templates import Rendered

log = logging.getLogger(__name__)
_WEBHOOK_ID = re.compile(r"[\x21-\x7e]{1,256}")  # what service.signatures accepts as a webhook-id


@dataclass(frozen=True, slots=True)
class Recipient:
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    locale: str | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """`retryable`: the same send may succeed later; `retry_after`: the receiver asked for that many seconds."""

    ok: bool
    detail: str
    retryable: bool = False
    retry_after: float | None = None
    attempts: int = 1
    status: int | None = None  # the receiver's HTTP status; None when no answer came


class Channel(Protocol):
    name: str

    async def send(self, rendered: Rendered, recipient: Recipient, key: str) -> SendResult: ...


def notification_payload(rendered: Rendered, recipient: Recipient, key: str) -> dict[str, Any]:
    """The JSON document of a notification, as the webhook posts it and the file records it."""
    return {"type": "notification", "key": key, "template": rendered.template, "locale": rendered.locale,
            "recipient": {"name": recipient.name, "email": recipient.email, "phone": recipient.phone,
                          "locale": recipient.locale},
            "subject": rendered.subject, "text": rendered.text, "html": rendered.html,
            "shipment": dict(rendered.shipment)}


class FileChannel:
    """One JSON line per notification, appended: the default channel, and an audit trail.

    Each line goes out in a single `write` on an O_APPEND descriptor, so lines
    from concurrent workers (or processes) never interleave, and is fsynced
    before the send counts as done. The file is created owner-only: it holds
    customer contact data.
    """

    name = "file"

    def __init__(self, path: str | Path, fsync: bool = True) -> None:
        self.path, self.fsync = Path(path), fsync

    async def send(self, rendered: Rendered, recipient: Recipient, key: str) -> SendResult:
        record = {**notification_payload(rendered, recipient, key),
                  "sent_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")}
        line = orjson.dumps(record) + b"\n"
        try:
            await asyncio.to_thread(self._append, line)
        except OSError as exc:
            permanent = exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR, errno.ENOTDIR)
            log.warning("notification %s: file channel cannot write %s: %s", key, self.path, exc.strerror or exc)
            return SendResult(False, f"cannot write {self.path}: {exc.strerror or exc}", retryable=not permanent)
        log.info("notification %s: appended to %s", key, self.path)
        return SendResult(True, f"appended to {self.path}")

    def _append(self, line: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if os.write(fd, line) != len(line):
                raise OSError(errno.ENOSPC, "short write")
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)


def message_id(key: str, domain: str) -> str:
    """The same key gives the same Message-ID: a resend after a crash is a recognisable duplicate."""
    return f"<notification.{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


class SmtpChannel:
    """A real SMTP conversation (aiosmtplib): multipart/alternative text + HTML, marked auto-generated.

    `starttls` requires STARTTLS (a relay on localhost may not offer it); `use_tls`
    is implicit TLS (port 465). 4xx replies and connection trouble are
    retryable, 5xx replies are not.
    """

    name = "smtp"

    def __init__(self, host: str, port: int, sender: str, username: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout: float = 10,
                 use_tls: bool = False) -> None:
        address = parseaddr(sender)[1]
        if "@" not in address:
            raise ValueError(f"SMTP sender {sender!r} is not an e-mail address")
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout
        self.username, self.password, self.starttls, self.use_tls = username, password, starttls, use_tls
        self.domain = address.rpartition("@")[2]

    def build(self, rendered: Rendered, recipient: Recipient, key: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = formataddr((" ".join((recipient.name or "").split()), recipient.email or ""))
        message["Subject"] = " ".join(rendered.subject.split())
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id(key, self.domain)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, no vacation loops
        message["X-Auto-Response-Suppress"] = "All"
        message.set_content(rendered.text)
        if rendered.html:
            message.add_alternative(rendered.html, subtype="html")
        # after the body: making the message multipart moves every Content-* header into its first part
        message["Content-Language"] = rendered.locale
        return message

    async def send(self, rendered: Rendered, recipient: Recipient, key: str) -> SendResult:
        if not recipient.email:
            return SendResult(False, "recipient has no e-mail address")
        try:
            message = self.build(rendered, recipient, key)
        except (ValueError, TypeError) as exc:  # an address or header the e-mail package refuses
            return self._failed(key, f"cannot build the message: {exc}", retryable=False)
        try:
            _, response = await aiosmtplib.send(
                message, hostname=self.host, port=self.port, username=self.username, password=self.password,
                start_tls=self.starttls, use_tls=self.use_tls, timeout=self.timeout)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients] or [550]
            return self._failed(key, f"recipient refused: {exc.recipients[0] if exc.recipients else exc}",
                                retryable=all(400 <= code < 500 for code in codes))
        except aiosmtplib.SMTPResponseException as exc:
            return self._failed(key, f"{exc.code} {exc.message}", retryable=400 <= exc.code < 500)
        except aiosmtplib.SMTPNotSupported as exc:  # e.g. STARTTLS required but not offered: configuration
            return self._failed(key, f"not supported by the server: {exc}", retryable=False)
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            return self._failed(key, f"{type(exc).__name__}: {exc}", retryable=True)
        log.info("notification %s: accepted by SMTP %s:%s (%s)", key, self.host, self.port, mask(response))
        return SendResult(True, mask(response))

    def _failed(self, key: str, detail: str, retryable: bool) -> SendResult:
        detail = mask(detail)
        log.warning("notification %s: SMTP %s:%s %s: %s", key, self.host, self.port,
                    "retryable" if retryable else "failed", detail)
        return SendResult(False, detail, retryable=retryable)


def webhook_id(key: str) -> str:
    """The idempotency key itself when it is a valid Standard Webhooks id, else a stable digest of it."""
    return key if _WEBHOOK_ID.fullmatch(key) else "n_" + hashlib.sha256(key.encode()).hexdigest()


class WebhookChannel:
    """POSTs the notification as JSON, signed with Standard Webhooks headers (webhook-id = idempotency key).

    Outcomes as `post_signed` classifies them; a new timestamp and signature
    per attempt, the same webhook-id.
    """

    name = "webhook"

    def __init__(self, url: str, secret: str, session: aiohttp.ClientSession | None = None,
                 timeout: float = 10, clock: Callable[[], float] = time.time) -> None:
        parsed = URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError("webhook URL must be http(s)://host/...")
        sign_standard_webhook(secret, "check", 0, b"")  # a malformed secret fails here, at start-up
        self.url, self._secret, self.session, self.timeout, self._clock = url, secret, session, timeout, clock
        self._where = f"{parsed.scheme}://{parsed.host}:{parsed.port}"  # for logs: no path or query (tokens)

    async def send(self, rendered: Rendered, recipient: Recipient, key: str) -> SendResult:
        result = await post_signed(self.url, self._secret, webhook_id(key),
                                   orjson.dumps(notification_payload(rendered, recipient, key)),
                                   session=self.session, timeout=self.timeout, clock=self._clock)
        level = logging.INFO if result.ok else logging.WARNING
        log.log(level, "notification %s: webhook %s %s", key, self._where, result.detail)
        return result


async def post_signed(url: str, secret: str, msg_id: str, body: bytes, *,
                      session: aiohttp.ClientSession | None = None, timeout: float = 10,
                      clock: Callable[[], float] = time.time, also_sign_with: str | None = None,
                      extra_headers: Mapping[str, str] | None = None) -> SendResult:
    """One Standard Webhooks delivery: a fresh timestamp and signature, the given id, the outcome classified.

    2xx is delivered; 408, 429, 5xx, timeouts and connection errors are
    retryable (with the receiver's Retry-After); redirects (never followed)
    and other 4xx are not. `also_sign_with`: a second secret whose signature
    follows the first, space-separated (a receiver still on the previous
    secret during a rotation verifies too).
    """
    stamp = int(clock())
    signature = sign_standard_webhook(secret, msg_id, stamp, body)
    if also_sign_with:
        signature += " " + sign_standard_webhook(also_sign_with, msg_id, stamp, body)
    headers = {**(extra_headers or {}), "content-type": "application/json", "webhook-id": msg_id,
               "webhook-timestamp": str(stamp), "webhook-signature": signature}
    try:
        if session is not None:
            return await _post(session, url, body, headers, timeout)
        async with aiohttp.ClientSession() as own:
            return await _post(own, url, body, headers, timeout)
    except asyncio.TimeoutError:
        return SendResult(False, f"timed out after {timeout:g} s", retryable=True)
    except aiohttp.ClientError as exc:
        return SendResult(False, f"{type(exc).__name__}: {mask(str(exc))}", retryable=True)


async def _post(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str],
                timeout: float) -> SendResult:
    async with session.post(url, data=body, headers=headers, allow_redirects=False,
                            timeout=aiohttp.ClientTimeout(total=timeout)) as response:
        status, reason = response.status, response.reason or ""
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        location = response.headers.get("Location")
    if 200 <= status < 300:
        return SendResult(True, f"{status} {reason}".strip(), status=status)
    if 300 <= status < 400:
        return SendResult(False, f"{status}: redirect to {mask(location or '(no Location)')[:200]} not followed",
                          status=status)
    retryable = status in (408, 429) or status >= 500
    detail = f"{status} {reason}".strip() + (f" (Retry-After {retry_after:g} s)" if retry_after is not None else "")
    return SendResult(False, detail, retryable=retryable, retry_after=retry_after if retryable else None,
                      status=status)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


async def send_with_retries(channel: Channel, rendered: Rendered, recipient: Recipient, key: str,
                            attempts: int = 4, base_delay: float = 0.5, max_delay: float = 30,
                            sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                            rng: Callable[[], float] = random.random) -> SendResult:
    """In-process retry of retryable failures: exponential backoff with equal jitter, Retry-After honoured.

    A Retry-After beyond `max_delay` ends the loop with the retryable result
    (and its `retry_after`): the engine's durable retry waits that long, not a
    task holding a worker slot. The result's `attempts` says how many sends
    were made.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for attempt in range(1, attempts + 1):
        result = replace(await channel.send(rendered, recipient, key), attempts=attempt)
        if result.ok or not result.retryable or attempt == attempts:
            return result
        backoff = min(max_delay, base_delay * 2 ** (attempt - 1))
        delay = backoff / 2 + rng() * backoff / 2  # spread retries of many notifications, never zero
        if result.retry_after is not None:
            if result.retry_after > max_delay:
                return result
            delay = max(delay, result.retry_after)
        log.info("notification %s: %s attempt %d failed (%s), retrying in %.1f s",
                 key, channel.name, attempt, result.detail, delay)
        await sleep(delay)
    raise AssertionError("unreachable")
