"""Which events a subscription receives: AMQP topic patterns over the routing key, as RabbitMQ binds them.

A subscriber who already knows the bus writes the same patterns for a
webhook as for a queue binding: the routing key is
`<status>.<exception_class|none>.<carrier>`, `*` stands for exactly one
word and `#` for zero or more. Patterns are checked when a subscription is
written (`parse_filter`), so matching never meets a malformed one.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

MAX_PATTERNS = 32
MAX_PATTERN_LENGTH = 255  # an AMQP binding key's limit
_WORD = re.compile(r"[a-z0-9_-]+|\*|#")


def parse_filter(patterns: Iterable[str]) -> tuple[str, ...]:
    """The patterns as stored (duplicates dropped, order kept); ValueError saying what is wrong otherwise."""
    if isinstance(patterns, (str, bytes)):
        raise ValueError("filter must be a list of routing-key patterns, not a single string")
    result: list[str] = []
    for index, pattern in enumerate(patterns):
        if not isinstance(pattern, str):
            raise ValueError(f"filter[{index}] must be a string")
        problem = _problem(pattern)
        if problem:
            raise ValueError(f"filter[{index}] {pattern[:80]!r}: {problem}")
        if pattern not in result:
            result.append(pattern)
    if not result:
        raise ValueError("filter must hold at least one pattern (`#` receives every event)")
    if len(result) > MAX_PATTERNS:
        raise ValueError(f"filter holds {len(result)} patterns; at most {MAX_PATTERNS}")
    return tuple(result)


def _problem(pattern: str) -> str | None:
    if not pattern:
        return "empty pattern"
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"longer than {MAX_PATTERN_LENGTH} characters"
    for word in pattern.split("."):
        if not word:
            return "empty word (two dots, or a dot at an end)"
        if not _WORD.fullmatch(word):
            return (f"word {word[:40]!r}: words are lowercase letters, digits, '_' and '-', "
                    "or a whole '*' (one word) or '#' (any number of words)")
    return None


def matches(patterns: Iterable[str], routing_key: str) -> bool:
    """True when any pattern matches the key."""
    return _matches(tuple(patterns), routing_key)


@lru_cache(maxsize=4096)
def _matches(patterns: tuple[str, ...], routing_key: str) -> bool:
    """Memoized per (filter, key): a subscription asks for every event, and routing keys are few (status x
    class x carrier label), so a feed's worth of events costs a lookup each."""
    words = tuple(routing_key.split("."))
    return any(_match(tuple(p.split(".")), words) for p in patterns)


@lru_cache(maxsize=4096)
def _match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    """AMQP topic matching; memoized on (pattern, key), so `#` backtracking stays linear over a feed."""
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])
