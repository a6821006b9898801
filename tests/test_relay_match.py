"""The cross-route match as a pure function: what makes two arrivals the same scan, and what does not."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

from service.core.relay import TOLERANCE, Candidate, Window, compatible, match, place_key
from taxonomy import Channel, ExceptionClass, MappedBy, NormalizedEvent, Provenance, Status, TimeBasis
from taxonomy.models import Location

AT = datetime(2026, 3, 12, 16, 14, 22, tzinfo=timezone.utc)
DENVER = Location(city="DENVER", region="CO", postal_code="80202", country="US")


def arrival(parser: str, at: datetime = AT, status: Status = Status.DELIVERED, cls: ExceptionClass | None = None,
            location: Location | None = DENVER) -> NormalizedEvent:
    return NormalizedEvent(event_id=hashlib.md5(f"{parser}{at}".encode()).hexdigest(), carrier="fedex", tracking_number="794612378800",
                           status=status, exception_class=cls, occurred_at=at, occurred_at_local=at,
                           time_basis=TimeBasis.OFFSET, description="Delivered", carrier_code="DL", location=location,
                           provenance=Provenance(channel=Channel.WEBHOOK, parser=parser, parser_version="1",
                                                 mapped_by=MappedBy.CODE))


def stored(at: datetime = AT, routes=("fedex.track_json",), place: str | None = place_key(DENVER),
           status: Status = Status.DELIVERED) -> Candidate:
    return Candidate("direct", at, status, None, place, frozenset(routes))


def test_places_compare_by_postcode_then_city_and_country_and_an_empty_side_fits_any():
    assert place_key(Location(city="Denver", postal_code="80202-4521", country="US")) == "80202|denver|US"
    assert compatible(place_key(DENVER), place_key(Location(city="Denver", postal_code="80202-1234")))
    assert not compatible(place_key(DENVER), place_key(Location(city="Denver", postal_code="80216", country="US")))
    assert compatible(place_key(Location(city="St. Louis")), place_key(Location(city="ST LOUIS", country="US")))
    assert not compatible(place_key(Location(city="Denver")), place_key(Location(city="Aurora")))
    assert not compatible(place_key(Location(city="London", country="GB")), place_key(Location(city="London",
                                                                                               country="CA")))
    assert compatible(None, place_key(DENVER)) and place_key(Location()) is None


def test_a_relay_rounded_to_the_minute_matches_and_near_misses_do_not():
    relay = arrival("aftership.json", AT.replace(second=0))
    assert match(relay, [stored()]) == stored()
    assert AT.replace(second=0) - AT < TOLERANCE
    assert match(arrival("aftership.json", AT + timedelta(minutes=10)), [stored()]) is None
    assert match(arrival("aftership.json", status=Status.OUT_FOR_DELIVERY), [stored()]) is None
    assert match(arrival("aftership.json", location=Location(city="Aurora", country="US")), [stored()]) is None
    assert match(arrival("aftership.json", location=None), [stored()]) == stored()


def test_a_route_never_matches_itself_two_direct_routes_never_match_and_the_closest_scan_wins():
    assert match(arrival("fedex.track_json", AT + timedelta(seconds=5)), [stored()]) is None
    # the carrier's webhook and its API report a scan alike (one v1 id): different ids are different scans
    assert match(arrival("fedex.soap_xml", AT + timedelta(seconds=5)), [stored()]) is None
    assert match(arrival("fedex.track_json"), [stored(routes=("aftership.json",))]) == stored(
        routes=("aftership.json",))
    assert match(arrival("easypost.json"), [stored(routes=("aftership.json",))]) is not None  # two relays
    assert match(arrival("aftership.json"), [stored(routes=("fedex.track_json", "aftership.json"))]) is None
    near, far = stored(AT + timedelta(seconds=10)), stored(AT - timedelta(seconds=40))
    assert match(arrival("aftership.json"), [far, near]) is near


def test_a_window_of_sorted_candidates_finds_the_same_scan_as_the_full_list():
    candidates = [stored(AT + timedelta(minutes=m)) for m in range(-30, 31, 5)]
    window = Window(list(reversed(candidates)))
    for seconds in (-900, -40, 0, 20, 290, 1900):
        relay = arrival("aftership.json", AT + timedelta(seconds=seconds))
        assert match(relay, window) == match(relay, candidates)
    assert match(arrival("aftership.json", AT + timedelta(seconds=20)), window).occurred_at == AT
