"""The shape every paged list answers with: its items, the cursor of the next page, and whether one follows."""
from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    """Subclassed per list (`class DlqList(Page[DlqItem])`): the subclass names the schema and documents the
    order; the fields stay in this order (items, next, has_more) in every list's published schema."""

    model_config = ConfigDict(extra="forbid")

    items: list[Item]
    next: str | None = Field(description="the `after` of the next page; null on the last page")
    has_more: bool = Field(description="another page follows")
