"""Bounded walk over an unknown JSON or XML document, finding event-like records.

XML is first turned into the same shape as JSON (elements -> dicts, repeated
sibling elements -> lists, attributes -> keys, text-only elements -> strings)
so one walk serves both. The walk is iterative and stops after MAX_NODES
nodes, so a huge or very wide document costs a bounded amount of work.

A group is a list of objects (or a single object under a key) whose records
carry a time-ish key and a text-ish key; `chain` links the objects above it,
nearest first, for finding the shipment facts (tracking number, carrier).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from lxml import etree

from .generic_keys import desc_rank, fold, place_role, time_rank, tracking_score

MAX_NODES = 50_000  # objects and lists visited; scalars inside them are passed over at C speed
MAX_SCALARS = 5_000  # scalar values kept for the document-wide tracking-number search
MAX_KEYS = 2_000  # keys of one object read when looking for shipment facts around the events
SAMPLE = 50  # records of a list looked at to decide whether it is a list of events

Chain = tuple  # (dict, parent Chain | None, key of the dict in its parent), the objects above a node
_TIME_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}[ T]+\d{1,2}:\d{2}")
_WORD = re.compile(r"[^\W\d_]{2,}")


def xml_tree(root: etree._Element, budget: int = MAX_NODES) -> dict:
    """{root tag: content}; stops adding elements once `budget` of them were read."""
    left = [budget]

    def convert(el: etree._Element) -> Any:
        left[0] -= 1
        children = [c for c in el if isinstance(c.tag, str)]
        txt = (el.text or "").strip()
        if not children:
            if txt or not el.attrib:
                return txt
            return dict(el.attrib)
        out: dict[str, Any] = dict(el.attrib)
        seen: set[str] = set()
        repeated: set[str] = set()
        for child in children:
            if left[0] <= 0:
                break
            value = convert(child)
            tag = child.tag
            if tag in repeated:
                out[tag].append(value)
            elif tag in seen:
                out[tag] = [out[tag], value]
                repeated.add(tag)
            else:
                out[tag] = value  # a child element wins over an attribute of the same name
                seen.add(tag)
        return out

    return {root.tag: convert(root)}


@dataclass(slots=True)
class Group:
    records: list[dict]
    chain: Chain | None  # the object holding the list (or the single record), then its parents
    is_list: bool
    key: str = ""  # the key the list (or the single record) sits under in the object holding it


@dataclass(slots=True)
class Walk:
    groups: list[Group] = field(default_factory=list)
    scalars: list[tuple[str, Any]] = field(default_factory=list)  # (folded key, value) in document order
    containers: set[int] = field(default_factory=set)  # ids of objects that hold event-like records below
    nodes: int = 0
    truncated: bool = False


def _key_kinds(obj: dict, out: list[bool]) -> None:
    for key, value in obj.items():
        if type(value) is dict:
            if not (out[0] and out[1]) and len(value) <= 200:
                for sub, inner in value.items():
                    if type(inner) is not dict and type(inner) is not list:
                        k = fold(sub)
                        out[0] = out[0] or time_rank(k) >= 0
                        out[1] = out[1] or desc_rank(k) >= 0
            continue
        if type(value) is list:
            continue
        k = fold(key)
        out[0] = out[0] or time_rank(k) >= 0
        out[1] = out[1] or desc_rank(k) >= 0


def time_value(value: Any) -> bool:
    """A string that reads as a date with a time of day (2026-03-11T14:02, 11.03.2026 14:02)."""
    return type(value) is str and len(value) <= 40 and _TIME_VALUE.match(value.strip()) is not None


def prose(value: Any) -> bool:
    """A string that reads as a sentence or label in words: two words or more, eight letters or more."""
    if type(value) is not str or len(value) > 300:
        return False
    words = _WORD.findall(value)
    return len(words) >= 2 and sum(map(len, words)) >= 8


@lru_cache(maxsize=4096)
def unnamed(k: str) -> bool:
    """A key none of the key rules classify (its value may still say what it is)."""
    return (time_rank(k) < 0 and desc_rank(k) < 0 and place_role(k) is None and tracking_score(k) == 0
            and not k.endswith(("code", "id", "type", "name", "url", "number", "no")))


def _value_kinds(obj: dict, out: list[bool]) -> None:
    """Fill in what the keys did not say: a date-time value, then a sentence under an unnamed key."""
    strings = [(key, value) for key, value in obj.items() if type(value) is str and value]
    if not out[0]:
        out[0] = any(time_value(value) for _, value in strings)
        if not out[0]:
            return  # no time at all: no need to look for text
    if not out[1]:
        out[1] = any(unnamed(fold(key)) and prose(value) for key, value in strings)


def eventish(obj: dict) -> bool:
    """A time and a text, at the top of the object or one level down: by key names, else by values."""
    if len(obj) > 200:
        return False
    found = [False, False]
    _key_kinds(obj, found)
    if not (found[0] and found[1]) and len(obj) <= 40:
        _value_kinds(obj, found)
    return found[0] and found[1]


def _mark(containers: set[int], chain: Chain | None) -> None:
    """Objects holding event-like records below them are shipments or wrappers, not events themselves."""
    while chain is not None and id(chain[0]) not in containers:
        containers.add(id(chain[0]))
        chain = chain[1]


def walk(root: Any, max_nodes: int = MAX_NODES) -> Walk:
    result = Walk()
    stack: list[tuple[Any, Chain | None, str, bool]] = [(root, None, "", False)]
    scalars = result.scalars
    while stack:
        if result.nodes >= max_nodes:
            result.truncated = True
            break
        node, chain, key, in_list = stack.pop()
        result.nodes += 1
        if type(node) is dict:
            here = (node, chain, key)
            if not in_list and eventish(node):
                result.groups.append(Group([node], chain, False, key))
                _mark(result.containers, chain)
            children = []
            wrapper = in_list and len(node) == 1  # [{"ScanDetail": {...}}, ...]: the inner object is the record
            for k, v in node.items():  # scalars are cheap to pass over; only objects and lists use the budget
                if type(v) is dict or type(v) is list:
                    children.append((v, here, k, wrapper and type(v) is dict))
                elif len(scalars) < MAX_SCALARS and (type(v) is str or type(v) is int):
                    scalars.append((fold(k), v))
            stack.extend(reversed(children))
        elif type(node) is list:
            records = [x for x in node if type(x) is dict]
            if records and any(eventish(r) for r in records[:SAMPLE]):
                result.groups.append(Group(records, chain, True, key))
                _mark(result.containers, chain)
            stack.extend((x, chain, key, True) for x in reversed(node) if type(x) is dict or type(x) is list)
    return result


def ancestors(chain: Chain | None, limit: int = 8) -> list[dict]:
    out = []
    while chain is not None and len(out) < limit:
        out.append(chain[0])
        chain = chain[1]
    return out


def ancestry(chain: Chain | None, limit: int = 8) -> list[tuple[dict, str, dict | None]]:
    """(object, the key it sits under, the object holding it) for the objects above a node, nearest first."""
    out = []
    while chain is not None and len(out) < limit:
        parent = chain[1]
        out.append((chain[0], chain[2] if len(chain) > 2 else "", parent[0] if parent is not None else None))
        chain = parent
    return out
