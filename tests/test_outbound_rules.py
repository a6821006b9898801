"""Outbound webhooks' pure rules: topic filters, the retry schedule, the SSRF guard's address decisions."""
from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.outbound import filters, schedule
from service.outbound.guard import (GuardedResolver, address_allowed, literal_refusal, parse_nets,
                                    refuse_reason)


# --- filters ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "key", "expected"), [
    ("#", "delivered.none.ups", True),
    ("delivered.#", "delivered.none.ups", True),
    ("delivered.*.*", "delivered.none.ups", True),
    ("delivered.*", "delivered.none.ups", False),  # * is exactly one word
    ("*.*.ups", "exception.weather.ups", True),
    ("*.*.ups", "exception.weather.fedex", False),
    ("#.ups", "exception.weather.ups", True),
    ("exception.#.ups", "exception.ups", True),  # # is zero words too
    ("exception.#", "exception", True),
    ("#.weather.#", "exception.weather.dhl", True),
    ("#.weather.#", "exception.none.dhl", False),
    ("exception.weather.ups", "exception.weather.ups", True),
    ("exception.weather.ups", "exception.weather.ups.extra", False),
    ("label_created.none.royal-mail", "label_created.none.royal-mail", True),
    ("*.#.*", "a", False),
    ("*.#.*", "a.b", True),
])
def test_topic_matching_as_rabbitmq_binds(pattern, key, expected):
    assert filters.matches(filters.parse_filter([pattern]), key) is expected


def test_any_pattern_of_a_filter_matches():
    patterns = filters.parse_filter(["delivered.#", "*.address.*"])
    assert filters.matches(patterns, "exception.address.fedex")
    assert filters.matches(patterns, "delivered.none.ups")
    assert not filters.matches(patterns, "in_transit.none.ups")


@pytest.mark.parametrize(("patterns", "message"), [
    ([], "at least one pattern"),
    ([""], "empty pattern"),
    (["delivered..ups"], "empty word"),
    (["delivered."], "empty word"),
    (["Delivered.#"], "word 'Delivered'"),
    (["deliv*.#"], "whole '*'"),
    (["a b"], "word 'a b'"),
    ([7], "must be a string"),
    ("#", "not a single string"),
    ([f"p{i}" for i in range(33)], "at most 32"),
    (["x" * 256], "longer than 255"),
])
def test_bad_filters_are_refused_with_the_reason(patterns, message):
    with pytest.raises(ValueError) as err:
        filters.parse_filter(patterns)
    assert message in str(err.value)


def test_parse_filter_keeps_order_and_drops_duplicates():
    assert filters.parse_filter(["b.#", "a.#", "b.#"]) == ("b.#", "a.#")


_words = st.lists(st.sampled_from(["a", "b", "c"]), min_size=0, max_size=5)


def _reference(pattern: list[str], words: list[str]) -> bool:
    """Topic matching by regular expression over space-terminated words, independent of the module's recursion."""
    import re
    regex = "".join("(?:[^ ]+ )*" if w == "#" else "[^ ]+ " if w == "*" else re.escape(w) + " " for w in pattern)
    return re.fullmatch(regex, "".join(w + " " for w in words)) is not None


@given(st.lists(st.sampled_from(["a", "b", "*", "#"]), min_size=1, max_size=4), _words.filter(bool))
def test_matching_agrees_with_a_regular_expression_reference(pattern, words):
    assert filters.matches([".".join(pattern)], ".".join(words)) == _reference(pattern, words)


# --- schedule -----------------------------------------------------------------------------------------------

def test_backoff_doubles_from_one_second_and_stops_at_an_hour():
    mid = lambda: 0.5  # noqa: E731 - no jitter
    assert [schedule.next_delay(n, rng=mid) for n in range(1, 6)] == [1, 2, 4, 8, 16]
    assert schedule.next_delay(13, rng=mid) == 3600
    assert schedule.next_delay(500, rng=mid) == 3600


@pytest.mark.parametrize("failures", [1, 5, 12, 40])
def test_jitter_stays_within_twenty_percent(failures):
    plain = schedule.next_delay(failures, rng=lambda: 0.5)
    low, high = schedule.next_delay(failures, rng=lambda: 0.0), schedule.next_delay(failures, rng=lambda: 1.0)
    assert low == pytest.approx(plain * 0.8) and high == pytest.approx(plain * 1.2)


def test_retry_after_wins_but_not_past_the_give_up_deadline():
    assert schedule.next_delay(1, retry_after=120, rng=lambda: 0.5) == 120
    assert schedule.next_delay(12, retry_after=3, rng=lambda: 0.5) == 3
    assert schedule.next_delay(1, retry_after=7200, remaining=600) == 600
    assert schedule.next_delay(20, remaining=10, rng=lambda: 0.5) == 10
    assert schedule.next_delay(20, remaining=-5) == 0


def test_give_up_after_the_limit():
    assert not schedule.give_up(1000.0, 1000.0 + 259_199, 259_200)
    assert schedule.give_up(1000.0, 1000.0 + 259_200, 259_200)


def test_the_documented_table_ends_at_the_give_up():
    rows = schedule.table()
    assert rows[0] == (1, 1.0, 1.0) and rows[-1][2] == pytest.approx(schedule.GIVE_UP)
    assert all(b[2] > a[2] for a, b in zip(rows, rows[1:]))
    text = schedule.describe()
    assert "| 1 | 1 s | 1 s |" in text and f"{rows[-1][0]}" in text and "then disabled" in text


# --- guard --------------------------------------------------------------------------------------------------

LOOPBACK = parse_nets("127.0.0.0/8")


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.5.5", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "::1", "fd00::1", "fe80::1", "::ffff:10.0.0.1",
                                     "224.0.0.1", "ff02::1"])
def test_non_public_addresses_are_not_allowed(address):
    assert not address_allowed(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert address_allowed(address)


def test_allow_nets_open_exactly_their_networks():
    assert address_allowed("127.0.0.1", LOOPBACK) and address_allowed("::ffff:127.0.0.9", LOOPBACK)
    assert not address_allowed("10.0.0.1", LOOPBACK) and not address_allowed("::1", LOOPBACK)
    assert parse_nets("10.0.0.0/8, fd00::/8") == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))
    with pytest.raises(ValueError, match="'10.0.0.0/33' is not a network"):
        parse_nets("10.0.0.0/33")


def _resolver(table: dict[str, list[str]]):
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]
    return resolve


@pytest.mark.parametrize(("url", "reason"), [
    ("ftp://example.com/x", "scheme must be http or https"),
    ("file:///etc/passwd", "scheme must be http or https"),
    ("https:///path", "no host"),
    ("https://user:pw@hooks.example.com/", "user name or password"),
    ("https://nowhere.invalid/", "does not resolve"),
    ("https://internal.example.com/", "non-public address (10.0.0.7)"),
    ("https://mixed.example.com/", "non-public address (127.0.0.1)"),  # one bad address is enough
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is not a public address"),
    ("http://[::1]:8080/", "is not a public address"),
    ("not a url", "scheme must be http or https"),
])
def test_refused_urls_say_why(url, reason):
    table = {"internal.example.com": ["10.0.0.7"], "mixed.example.com": ["93.184.216.34", "127.0.0.1"]}
    refused = refuse_reason(url, (), resolve=_resolver(table))
    assert refused is not None and reason in refused


def test_public_and_allowed_urls_pass():
    table = {"hooks.example.com": ["93.184.216.34", "2606:2800:220:1::248"], "localhost": ["127.0.0.1"]}
    assert refuse_reason("https://hooks.example.com/in?x=1", (), resolve=_resolver(table)) is None
    assert refuse_reason("http://localhost:9000/hook", LOOPBACK, resolve=_resolver(table)) is None
    assert refuse_reason("http://127.0.0.1:9000/hook", LOOPBACK, resolve=_resolver({})) is None
    assert literal_refusal("http://hooks.example.com/") is None  # a name: the resolver decides at connect


class _Fixed:
    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [{"hostname": host, "host": a, "port": port, "family": family, "proto": 0, "flags": 0}
                for a in self.addresses]

    async def close(self) -> None:
        pass


async def test_the_connect_time_resolver_drops_rebound_private_addresses():
    mixed = GuardedResolver((), inner=_Fixed(["10.0.0.5", "93.184.216.34"]))
    assert [r["host"] for r in await mixed.resolve("hooks.example.com", 443)] == ["93.184.216.34"]
    rebound = GuardedResolver((), inner=_Fixed(["127.0.0.1"]))
    with pytest.raises(OSError, match="only to non-public addresses"):
        await rebound.resolve("hooks.example.com", 443)
    allowed = GuardedResolver(LOOPBACK, inner=_Fixed(["127.0.0.1"]))
    assert [r["host"] for r in await allowed.resolve("localhost", 80)] == ["127.0.0.1"]
