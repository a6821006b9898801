"""Log set-up: plain text for a terminal, JSON lines for a log shipper; masked either way.

JSON lines carry the request id (the caller's `X-Request-Id`, or one made up
per request) and the current trace and span ids, so a line found in the logs
leads to the trace of the webhook it belongs to, and back.
"""
from __future__ import annotations

import contextvars
import logging
from datetime import datetime, timezone

import orjson
from aiohttp.http_exceptions import HttpProcessingError
from opentelemetry import trace

from .logmask import install

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        rid = request_id.get()
        if rid:
            line["request_id"] = rid
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            line["trace_id"] = format(context.trace_id, "032x")
            line["span_id"] = format(context.span_id, "016x")
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return orjson.dumps(line).decode()


class QuietMalformedRequests(logging.Filter):
    """aiohttp logs every malformed request (bad header bytes, floods) as an ERROR with a traceback.

    Those are the client's mistakes, already answered with a 400: a flood of
    them must not become a flood of tracebacks. They become one warning line,
    at most one a second (with how many were left out), and real server
    errors still log in full.
    """

    def __init__(self) -> None:
        super().__init__()
        self._last = 0.0
        self._quiet = 0

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        if record.created - self._last < 1.0:
            self._quiet += 1
            return False
        record.msg = f"malformed request refused with 400: {type(exc).__name__}: {exc.message!s:.200}" + (
            f" ({self._quiet} more in the last second not logged)" if self._quiet else "")
        record.args, record.exc_info, record.exc_text = None, None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        self._last, self._quiet = record.created, 0
        return True


def quiet_malformed_requests() -> None:
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, QuietMalformedRequests) for f in server.filters):
        server.addFilter(QuietMalformedRequests())


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    """Root logging for the `serve` and `worker` commands; the masking filter sits on every handler."""
    logging.basicConfig(level=level, format=_TEXT)
    if log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonLines())
    install()
