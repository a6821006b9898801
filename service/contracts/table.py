"""The rows of the OpenAPI operation table (`service.contracts.openapi`) and the replies many operations share.

Apart from the table itself so that groups of operations can live in
modules of their own (`service.contracts.subscriptions`) and still be rows
of the one table.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from ..web.bodies import Problem

REF = "#/components/schemas/{model}"
Schema = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: Literal["path", "query", "header"]
    description: str
    schema: Schema
    required: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    description: str
    body: type[BaseModel] | Schema = Problem  # a body model, or an inline schema
    headers: tuple[str, ...] = ()  # names in HEADERS
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    replies: tuple[Reply, ...]
    description: str = ""
    parameters: tuple[Param, ...] = ()
    request_types: tuple[str, ...] = ()  # content types of an opaque request body
    request_model: type[BaseModel] | None = None  # a JSON request body (optional: the model's defaults apply)
    security: Literal["none", "read", "metrics", "admin", "api", "cs", "webhook"] = "none"
    request_required: bool = False


def int_schema(description: str, default: int, low: int, high: int) -> Schema:
    return {"type": "integer", "default": default, "minimum": low, "maximum": high, "description": description}


STORE_503 = Reply(503, "the store cannot answer (disk full, locked); retry later", headers=("Retry-After",))
PARAMS_400 = Reply(400, "a parameter is invalid or unknown (named in `errors`)")
