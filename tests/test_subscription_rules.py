"""The subscriptions API's pure rules, and the README's receiver examples run against real signed requests."""
from __future__ import annotations

import base64
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.core import subscriptions as rules
from service.outbound import filters, schedule
from service.rows import DeliveryAttempt, Subscription
from service.signatures import sign_standard_webhook
from service.web.subscription_bodies import (MAX_PATTERNS, SubscriptionCreated, SubscriptionIn, SubscriptionPatch,
                                             SubscriptionReplay, SubscriptionView)

README = Path(__file__).resolve().parent.parent / "README.md"
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def _sub(**changes: object) -> Subscription:
    return Subscription(**{**dict(id=rules.new_id(), url="https://oms.example.com/hook", filter=("#",),
                                  description="", enabled=True, secret=rules.new_secret(), cursor=5,
                                  created_at="2026-03-01T00:00:00Z", updated_at="2026-03-01T00:00:00Z"),
                           **changes})


def test_ids_and_secrets_have_their_documented_form_and_do_not_repeat():
    ids = {rules.new_id() for _ in range(200)}
    secrets = {rules.new_secret() for _ in range(200)}
    assert len(ids) == len(secrets) == 200
    assert all(re.fullmatch(r"sub_[0-9a-f]{24}", i) and rules.is_id(i) for i in ids)
    for secret in secrets:
        assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:], validate=True)) == 32
    for wrong in ("sub_" + "0" * 23, "sub_" + "G" * 24, "SUB_" + "0" * 24, "sub_" + "0" * 25, "1", "", "sub_"):
        assert not rules.is_id(wrong)


def test_a_view_never_carries_a_secret_and_reports_lag_and_state():
    sub = _sub(previous_secret=rules.new_secret(), previous_secret_until="2026-03-02T00:00:00Z")
    shown = rules.view(sub, head=12, now=NOW)
    assert sub.secret not in str(shown) and sub.previous_secret not in str(shown)
    assert "secret" not in shown and "previous_secret" not in shown
    assert shown["lag"] == 7 and shown["state"] == "active" and shown["previous_secret_until"] == "2026-03-02T00:00:00Z"
    assert SubscriptionView.model_validate(shown).model_dump(mode="json") == shown
    assert rules.view(sub, head=3, now=NOW)["lag"] == 0  # a cursor replayed ahead of the head: no negative lag
    assert rules.view(sub, head=12, now=NOW + timedelta(days=2))["previous_secret_until"] is None  # overlap over
    assert rules.view(_sub(failing_since="2026-03-01T11:00:00Z"), 0)["state"] == "failing"
    assert rules.view(_sub(enabled=False, failing_since="2026-03-01T11:00:00Z"), 0)["state"] == "disabled"
    created = rules.created_view(sub, 12)
    assert created["secret"] == sub.secret
    assert SubscriptionCreated.model_validate(created).model_dump(mode="json") == created


def test_enabling_clears_the_reason_and_the_streak_and_disabling_records_it():
    on = rules.enable_changes(True, NOW)
    assert on == {"enabled": True, "disabled_reason": None, "disabled_at": None, "failing_since": None,
                  "next_attempt_at": None, "last_error": None}
    off = rules.enable_changes(False, NOW)
    assert off == {"enabled": False, "disabled_reason": rules.DISABLED_BY_API, "disabled_at": "2026-03-01T12:00:00Z"}
    assert "cursor" not in on and "cursor" not in off


def test_a_rotation_keeps_the_current_secret_for_the_overlap_only():
    sub = _sub(previous_secret=rules.new_secret(), previous_secret_until="2026-03-01T13:00:00Z")
    changes = rules.rotation_changes(sub, 3600, NOW)
    assert changes["secret"] not in (sub.secret, sub.previous_secret)
    assert changes["previous_secret"] == sub.secret  # the older previous one is dropped: two valid at most
    assert changes["previous_secret_until"] == "2026-03-01T13:00:00Z"
    assert rules.rotation_changes(sub, 0, NOW) | {"secret": None} == \
        {"secret": None, "previous_secret": None, "previous_secret_until": None}


def test_the_delivery_log_cursor_round_trips_and_refuses_what_it_did_not_make():
    attempt = DeliveryAttempt("sub_" + "a" * 24, 42, "e" * 32, 1, True, 204, 3.5, None, "2026-03-01T12:00:00Z", 7)
    assert rules.parse_log_cursor(rules.log_cursor(attempt)) == ("2026-03-01T12:00:00Z", 42, 7)
    assert rules.parse_log_cursor("42_7_2026-03-01T13:00:00+01:00") == ("2026-03-01T12:00:00Z", 42, 7)  # as stored
    for junk in ("", "42", "_2026-03-01T12:00:00Z", "x_2026-03-01T12:00:00Z", "42_yesterday", "42_2026-03-01T12:00:00",
                 "4" * 20 + "_2026-03-01T12:00:00Z", "٤٢_2026-03-01T12:00:00Z", "42_" + "9" * 50,
                 "9" * 19 + "_2026-03-01T12:00:00Z", "1_0001-01-01T00:00:00+01:00",
                 "42_2026-03-01T12:00:00Z", "42_x_2026-03-01T12:00:00Z", "42_7_2026-03-01T12:00:00",
                 "42_" + "9" * 19 + "_2026-03-01T12:00:00Z", "1_1_0001-01-01T00:00:00+01:00"):
        assert rules.parse_log_cursor(junk) is None, junk


def test_request_bodies_refuse_nulls_unknown_fields_and_half_replays():
    assert SubscriptionIn.model_validate({"url": "https://x.example"}, strict=True).filter == ["#"]
    assert SubscriptionIn.model_validate({"url": "https://x.example", "from": "beginning"}, strict=True).from_ == \
        "beginning"
    for bad in ({}, {"url": 5}, {"url": "https://x.example", "filter": "#"}, {"url": "https://x.example", "x": 1},
                {"url": "https://x.example", "filter": ["#"] * (MAX_PATTERNS + 1)},
                {"url": "https://x.example", "from": "now"}, {"url": "https://x.example", "description": None}):
        with pytest.raises(ValidationError):
            SubscriptionIn.model_validate(bad, strict=True)
    assert SubscriptionPatch.model_validate({}, strict=True).model_fields_set == set()
    for field in ("url", "filter", "description", "enabled"):
        with pytest.raises(ValidationError) as refused:
            SubscriptionPatch.model_validate({field: None}, strict=True)
        assert refused.value.errors()[0]["loc"] == (field,)
    assert SubscriptionReplay.model_validate({"after": 3}, strict=True).after == 3
    assert SubscriptionReplay.model_validate({"since": "2026-03-01T00:00:00+01:00"}, strict=True).since == \
        "2026-02-28T23:00:00Z"
    for bad in ({}, {"after": 1, "since": "2026-03-01T00:00:00Z"}, {"after": -1}, {"after": "3"}, {"after": True},
                {"since": "2026-03-01"}, {"since": "2026-03-01T00:00:00"}, {"since": "soon"},
                {"since": "0001-01-01T00:00:00+01:00"}, {"after": 2**62 + 1}):
        with pytest.raises(ValidationError):
            SubscriptionReplay.model_validate(bad, strict=True)


def test_the_body_limit_on_patterns_is_the_filters_own():
    assert MAX_PATTERNS == filters.MAX_PATTERNS


# --- README ----------------------------------------------------------------------------------------------------
def _block(name: str) -> dict:
    block = re.search(rf"```python\n(# {re.escape(name)}.*?)```", README.read_text("utf-8"), re.S)
    assert block, f"the README lost its {name} example"
    namespace: dict = {"__name__": name}
    exec(compile(block.group(1), f"README.md:{name}", "exec"), namespace)  # noqa: S102
    return namespace


def _signed(secret: str, body: bytes, *, also: str | None = None, stamp: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if stamp is None else stamp
    signature = sign_standard_webhook(secret, "evt-1", stamp, body)
    if also:
        signature += " " + sign_standard_webhook(also, "evt-1", stamp, body)
    return {"webhook-id": "evt-1", "webhook-timestamp": str(stamp), "webhook-signature": signature,
            "content-type": "application/json"}


def test_the_readme_receivers_accept_signed_requests_and_refuse_the_rest():
    receive = _block("oms_receiver.py")["receive"]
    verified = _block("verify.py")["verified"]
    secret, previous, other = rules.new_secret(), rules.new_secret(), rules.new_secret()
    body = b'{"specversion":"1.0","id":"evt-1"}'
    good = _signed(secret, body)
    assert receive(secret, good, body) == {"specversion": "1.0", "id": "evt-1"}
    assert verified(secret, good, body) is True
    overlap = _signed(secret, body, also=previous)  # during a rotation: either secret verifies
    for key in (secret, previous):
        assert receive(key, overlap, body) is not None and verified(key, overlap, body)
    for key, headers, payload in ((other, good, body), (secret, good, body + b" "),
                                  (secret, _signed(secret, body, stamp=int(time.time()) - 3600), body)):
        assert receive(key, headers, payload) is None
        assert verified(key, headers, payload) is False


def test_the_readme_retry_schedule_is_the_schedules_own():
    text = README.read_text("utf-8")
    table = re.search(r"<!-- retry schedule: [^>]*-->\n(.*?)\n<!-- end of retry schedule -->", text, re.S)
    assert table and table.group(1) == schedule.describe()
