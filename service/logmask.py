"""A logging filter that masks secrets, signatures and personal names before any handler writes a line.

Log lines end up in places with weaker access control than the store (log
shippers, tickets, screenshots). Whatever a line was built from (a dict of
headers, an exception's text, a reason quoting a document), values under
sensitive names are replaced: secrets, tokens and signatures entirely,
recipient names, `signed_by`, e-mail addresses and phone numbers down to their first letter, which is still
enough to tell two deliveries apart when debugging.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable

_SECRET_NAMES = (r"secret|signature|token|authorization|credential|password|passwd|api[-_]?key|"
                 r"x-hmac-signature|aftership-hmac-sha256|fdx-signature|webhook-signature")
_PERSON_NAMES = (r"signed_?by|signedby|signatory|recipient(?:_?name)?|customer_?name|consignee(?:_?name)?|"
                 r"email|phone")

# name: value / name=value / "name": "value" / 'name': 'value'. A value ends at a quote, brace or line end;
# a name also at a comma (signature lists contain commas, so a secret's value runs on: better too much masked).
_PAIR = r'''(?P<key>["']?(?:{names})["']?\s*[:=]\s*)(?P<quote>["']?)(?P<value>[^"'}}\]\r\n{stop}]*)'''
_SECRET_PAIR = re.compile(_PAIR.format(names=_SECRET_NAMES, stop=""), re.IGNORECASE)
# A webhook URL's query string is where shared tokens travel (`query:<name>`, any name an operator
# configures): every value in it is masked, whatever the parameter is called.
_WEBHOOK_QUERY = re.compile(r"(/webhooks/[^\s?\"']*\?)([^\s\"'#]*)")
_QUERY_VALUE = re.compile(r"(=)[^&;]*")
_PERSON_PAIR = re.compile(_PAIR.format(names=_PERSON_NAMES, stop=","), re.IGNORECASE)
_PATTERNS = (
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), "whsec_***"),
    (re.compile(r"hmac-sha256-hex=[0-9A-Fa-f]+"), "hmac-sha256-hex=***"),
    (re.compile(r"\bv1,[A-Za-z0-9+/=]{16,}"), "v1,***"),
    (re.compile(r"\bBearer\s+[^\s\"',]+", re.IGNORECASE), "Bearer ***"),
    (re.compile(r"\b([A-Za-z0-9])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"), r"\1***@\2"),
)


def remember_credential_names(names: Iterable[str]) -> None:
    """Mask values under these names too: the header and query parameter names of configured credentials
    (`header:<Name>`, `query:<name>` schemes), so a name chosen by an operator is as safe as `token`."""
    global _SECRET_PAIR
    extra = sorted({re.escape(n.strip()) for n in names if n and n.strip()} - _remembered)
    if not extra:
        return
    _remembered.update(extra)
    names_re = "|".join([_SECRET_NAMES, *sorted(_remembered, key=len, reverse=True)])
    _SECRET_PAIR = re.compile(_PAIR.format(names=names_re, stop=""), re.IGNORECASE)


_remembered: set[str] = set()


def _mask_query(match: re.Match[str]) -> str:
    return match[1] + _QUERY_VALUE.sub(r"\1***", match[2])


def mask(text: str) -> str:
    text = _WEBHOOK_QUERY.sub(_mask_query, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    text = _SECRET_PAIR.sub(lambda m: m["key"] + m["quote"] + ("***" if m["value"].strip() else ""), text)
    return _PERSON_PAIR.sub(lambda m: m["key"] + m["quote"] + _initial(m["value"]), text)


def _initial(value: str) -> str:
    stripped = value.strip()
    if not stripped or stripped.lower() in ("none", "null"):
        return value
    return stripped[0] + "***"


class MaskSensitive(logging.Filter):
    """Renders the message once, masks it, and leaves the record holding only the masked text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: log what there is rather than lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = mask(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Add the filter to every handler of `logger` (the root by default): records from child loggers
    reach handlers without passing the parent loggers' own filters."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, MaskSensitive) for f in handler.filters):
            handler.addFilter(MaskSensitive())
