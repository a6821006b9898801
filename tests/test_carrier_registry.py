"""The carrier registry: complete entries, every plugin's carrier known, readers agree with it, bad data refused."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from parsers.formats import aftership_json, easypost_json, generic_heuristic, shippo_track_json, x12_edi_214
from parsers.registry import plugins
from parsers.tracking_numbers import candidates
from taxonomy.carriers import RegistryError, compact, load, registry, tracking_url
from taxonomy.checkdigits import SCHEMES
from tests.goldens import FIXTURES, golden_path, payloads

SECOND_WAVE = ("royalmail", "dpd", "gls", "hermes", "bpost", "tnt", "laposte", "chronopost", "dhl_parcel_de",
               "dhl_ecommerce", "asendia", "australiapost", "purolator", "canpar", "aramex", "sf_express", "sendle",
               "yanwen", "amazon_shipping", "landmark")
CARRIERS = [c for c in registry() if c.kind == "carrier"]


@pytest.mark.parametrize("carrier", CARRIERS, ids=lambda c: c.slug)
def test_every_carrier_entry_is_complete(carrier):
    assert carrier.name and carrier.country and len(carrier.country) == 2 and carrier.zone
    assert carrier.tracking_url.startswith("https://") and "{tracking_number}" in carrier.tracking_url
    assert set(carrier.aliases) == set(registry().aggregators()) == {"easypost", "shippo", "aftership",
                                                                     "shipengine"}
    assert carrier.numbers and all(f.example for f in carrier.numbers)


def test_every_plugin_family_has_a_registry_entry():
    missing = sorted({p.family for p in plugins()} - {c.slug for c in registry()})
    assert not missing, f"parser plugins without a registry entry: {missing}"


def test_carrier_plugins_report_registry_slugs_in_their_goldens():
    """A carrier's own format names its shipments by registry slugs (aggregators and channels name others)."""
    own = {p.name for p in plugins() if registry()[p.family].kind == "carrier"}
    unknown = []
    for payload in payloads():
        record = json.loads(golden_path(payload).read_text("utf-8"))
        if record.get("parser") in own:
            unknown += [(payload.relative_to(FIXTURES).as_posix(), s["carrier"]) for s in record["shipments"]
                        if s["carrier"] not in registry()]
    assert not unknown


def test_the_second_wave_carriers_and_shipengine_have_entries():
    assert all(registry()[slug].kind == "carrier" for slug in SECOND_WAVE)
    assert registry()["shipengine"].kind == "aggregator"
    assert registry()["laposte"].url_for("6A12345678901").startswith("https://www.laposte.fr/")
    assert shippo_track_json.carrier_slug("colissimo") == "laposte"


@pytest.mark.parametrize(("slug", "form"), [(c.slug, f) for c in CARRIERS for f in c.numbers],
                         ids=lambda v: v if isinstance(v, str) else v.pattern.pattern)
def test_number_examples_fit_and_one_wrong_check_digit_does_not(slug, form):
    assert form.fits(form.example)
    if form.detect:
        assert slug in candidates(form.example)
    if form.check != "none":
        last = form.example[-1] if form.check != "s10" else form.example[10]
        at = len(form.example) - 1 if form.check != "s10" else 10
        wrong = form.example[:at] + str((int(last) + 1) % 10) + form.example[at + 1:]
        assert not form.fits(wrong)


def test_check_schemes_are_the_documented_ones():
    assert set(SCHEMES) == {"ups_1z", "gs1_mod10", "fedex_12", "s10", "mod7", "none"}
    assert {f.check for c in registry() for f in c.numbers} <= set(SCHEMES)


def test_detection_keeps_owners_first_and_unknown_posts_as_upu():
    assert candidates("9261290100130436500006") == ["usps", "fedex"]  # FedEx borrows IMpb 92
    assert candidates("RR123456785GB") == ["royalmail"] and candidates("rr 123 456 785 gb") == ["royalmail"]
    assert candidates("RR123456785CN") == ["upu"]  # a valid S10 of a post the registry does not know
    assert candidates("RR123456784CN") == []
    assert candidates("12345678901") == []  # a plain shape (Aramex, GLS ...) names nobody


def test_tracking_urls_quote_the_number_and_know_only_registry_carriers():
    assert tracking_url("ups", "1Z999AA10123456784") == "https://www.ups.com/track?tracknum=1Z999AA10123456784"
    assert tracking_url("usps", "9400 1000/x&y").endswith("tLabels=9400%201000%2Fx%26y")
    assert tracking_url("lasership", "1LS123") is None and tracking_url("easypost", "EZ1") is None
    assert tracking_url(None, "1Z") is None and tracking_url("ups", "") is None


def test_aggregator_codes_and_spellings_resolve_through_the_registry():
    assert [easypost_json.carrier_slug(n) for n in ("FedExSmartPost", "RoyalMail", "DhlEcs", "LaserShipV2")] == \
        ["fedex", "royalmail", "dhl_ecommerce", "laser_ship_v2"]
    assert [shippo_track_json.carrier_slug(n) for n in ("dhl_germany", "australia_post", "newgistics")] == \
        ["dhl_parcel_de", "australiapost", "newgistics"]
    assert [aftership_json.carrier_slug(n) for n in ("royal-mail", "sf-express", "la-poste-colissimo")] == \
        ["royalmail", "sf_express", "laposte"]
    assert [generic_heuristic.carrier_slug(n) for n in ("Canada Post", "FDXG", "Royal Mail", "myHermes", "Evri")] == \
        ["canadapost", "fedex", "royalmail", "hermes", "evri"]  # Evri is not Hermes Germany
    assert x12_edi_214.carrier_slug("FXFE") == "fedex" and x12_edi_214.carrier_slug("ODFL") == "odfl"


def test_compact_is_how_numbers_are_matched():
    assert compact(" 1z 999-aa1 ") == "1Z999AA1" and compact("") == ""


GOOD = """
[easypost]
name = "EasyPost"
kind = "aggregator"
[acme]
name = "Acme"
country = "US"
zone = "America/Chicago"
tracking_url = "https://acme.example/t/{tracking_number}"
[acme.aliases]
easypost = ["Acme"]
[[acme.numbers]]
pattern = 'AC\\d{6}'
check = "none"
example = "AC123456"
"""


def test_a_minimal_registry_loads():
    found = load(GOOD)
    assert found["acme"].url_for("AC 1") == "https://acme.example/t/AC%201"
    assert found.aliases("easypost") == {"Acme": "acme"} and found.webhook_sources() == {}


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace('country = "US"\n', ""), "acme: a carrier needs country"),
    (lambda t: t.replace('zone = "America/Chicago"', 'zone = "Mars/Olympus"'), "not an IANA time zone"),
    (lambda t: t.replace("t/{tracking_number}", "t/"), "tracking_url must be https"),
    (lambda t: t.replace('easypost = ["Acme"]', ""), "aliases.easypost missing"),
    (lambda t: t.replace('easypost = ["Acme"]', 'easypost = []\nshipstation = ["x"]'), "not an aggregator"),
    (lambda t: t.replace('check = "none"', 'check = "luhn"'), "check must name a scheme"),
    (lambda t: t.replace('example = "AC123456"', 'example = "AC12"'), "does not fit"),
    (lambda t: t.replace('name = "Acme"', 'name = "Acme"\ncolour = "red"'), "unknown field 'colour'"),
    (lambda t: t + '[[acme.numbers]]\npattern = "("\ncheck = "none"\nexample = "x"\n', "does not compile"),
    (lambda t: t + '[roadrunner]\nname = "EasyPost"\nkind = "channel"\n[roadrunner.service]\nwebhook = "open"\n',
     "name 'easypost' already names easypost"),
    (lambda t: t + '[[acme.numbers]]\npattern = "X"\ncheck = "none"\nexample = "X"\ndetect = "yes"\n',
     "detect and borrowed must be true or false"),
    (lambda t: t + '[acme.service]\npoll = "acme_client"\n', "must be 'module:Class'"),
    (lambda t: t.replace('[acme]', '[Acme-Co]', 1).replace("[acme.", "[Acme-Co."), "the slug must be"),
])
def test_bad_entries_are_refused_with_the_slug_and_field_named(edit, message):
    with pytest.raises(RegistryError, match=message.replace("(", r"\(")):
        load(edit(GOOD))


def test_every_problem_is_reported_at_once():
    with pytest.raises(RegistryError) as caught:
        load(GOOD.replace('country = "US"\n', "").replace('check = "none"', 'check = "x"'))
    assert len(caught.value.problems) == 2


def test_the_service_reads_sources_schemes_poll_clients_and_names_from_the_registry():
    from service import signatures
    from service.actions.templates import _carrier
    from service.carriers import CLIENTS
    from service.config import SOURCES

    assert SOURCES == tuple(registry().webhook_sources())
    assert {"ups", "canadapost", "easypost", "shipengine", "x12", "generic"} <= set(SOURCES)
    assert set(CLIENTS) == set(registry().poll_clients()) == {"ups", "fedex", "usps", "dhl", "canadapost"}
    assert all(CLIENTS[c].carrier == c and CLIENTS[c].default_base_url.startswith("https://") for c in CLIENTS)
    whsec = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYg=="
    for source, scheme in signatures.DEFAULT_SCHEMES.items():
        if scheme != "shipengine-rsa":  # needs RSA keys: tests/test_webhook_auth_shipengine.py
            assert signatures.build(scheme, [whsec]).name == scheme, source
    assert [_carrier(s) for s in ("canadapost", "royalmail", "dhl_parcel_de", "laser_ship")] == \
        ["Canada Post", "Royal Mail", "DHL Paket", "LASER SHIP"]


@pytest.mark.parametrize(("case", "url"), [
    ("ups_track_json/delivered_received_by.json", "https://www.ups.com/track?tracknum="),
    ("generic_heuristic/acme_parcel_delivered.json", None),  # a carrier the registry does not know
])
def test_cloud_events_carry_the_registry_tracking_url_and_validate(case, url):
    from parsers import normalize_document
    from service.cloudevents import Snapshot, cloud_event
    from service.web.bodies import CloudEvent

    shipment = normalize_document((FIXTURES / case).read_bytes()).shipments[0]
    event = shipment.events[0]
    message = cloud_event(event, Snapshot(event.status, event.status, event.exception_class, False))
    found = message["data"]["shipment"]["tracking_url"]
    assert found == (url + shipment.tracking_number if url else None)
    CloudEvent.model_validate(message)


def test_the_readme_opening_names_every_carrier_and_aggregator_the_service_reads():
    """Adding a registry entry means saying so in the README's first paragraph, where readers look first."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    opening = " ".join(readme.split("\n\n")[1].split())
    missing = [c.name for c in registry() if c.kind != "channel" and " ".join(c.name.split()) not in opening]
    assert not missing, f"README's opening paragraph does not name {missing}"
