"""Reading JSON request bodies: not JSON or not an object is a 400, a field of the wrong type or value a 422
naming it (`body.customer.email`); never a 500 whatever the JSON holds."""
from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from .problems import FieldError, ProblemError

M = TypeVar("M", bound=BaseModel)


async def json_object(request: web.Request, *, optional: bool = False) -> dict:
    """The body as a JSON object; `optional`: an absent (empty) body is `{}`."""
    if optional and not request.can_read_body:
        return {}
    try:
        raw = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise ProblemError(400, "invalid-body", "the body must be JSON (UTF-8)",
                           (FieldError("body", "not JSON"),)) from None
    if not isinstance(raw, dict):
        raise ProblemError(400, "invalid-body", "the body must be a JSON object",
                           (FieldError("body", f"a JSON {type(raw).__name__}, not an object"),))
    return raw


# Parts of a pydantic error location that name a union member's type, not a field (`states.str`).
_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none", "tuple"})


def field_errors(exc: ValidationError, prefix: str = "body") -> list[FieldError]:
    """One error per field path (a value failing every member of a union is one error, messages joined)."""
    merged: dict[str, list[str]] = {}
    for e in exc.errors():
        parts = [str(p) for p in e["loc"] if not (isinstance(p, str) and ("[" in p or p in _TYPE_TAGS))]
        messages = merged.setdefault(".".join([prefix, *parts]), [])
        if e["msg"] not in messages:
            messages.append(e["msg"])
    return [FieldError(field, " or ".join(messages)) for field, messages in merged.items()]


def describe(errors: list[FieldError]) -> str:
    return "; ".join(f"{e.field.removeprefix('body.')}: {e.message}" for e in errors)


def validated(model: type[M], raw: object, *, strict: bool = False) -> M:
    """`raw` as `model`, or a 422 problem listing every invalid field."""
    try:
        return model.model_validate(raw, strict=strict)
    except ValidationError as exc:
        errors = field_errors(exc)
        raise ProblemError(422, "invalid-field", describe(errors), errors) from None
