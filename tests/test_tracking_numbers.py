"""Tracking-number shapes with check digits: valid numbers fit, one wrong digit does not."""
from __future__ import annotations

import pytest

from parsers.tracking_numbers import candidates, guess


@pytest.mark.parametrize("number,carrier", [
    ("1Z999AA10123456784", "ups"),
    ("1Z 999 AA1 01 2345 6784", "ups"),
    ("9400110898680009697924", "usps"),
    ("EE123456785US", "usps"),
    ("RA123456785CA", "canadapost"),
    ("738488882438", "fedex"),
    ("3180831640", "dhl"),
])
def test_valid_numbers(number, carrier):
    assert guess(number) == carrier


@pytest.mark.parametrize("number", [
    "1Z999AA10123456785",  # UPS check digit off by one
    "9400110898680009697925",  # IMpb check digit wrong
    "EE123456786US",  # S10 check digit wrong
    "3180831641",  # DHL mod-7 check wrong
    "", "hello", "12345",
])
def test_wrong_check_digits_and_junk_fit_nothing(number):
    assert candidates(number) == []
    assert guess(number) is None


def test_impb_92_is_ambiguous_between_usps_and_fedex_ground_economy():
    assert candidates("9261290100130436500006") == ["usps", "fedex"]
    assert guess("9261290100130436500006") is None
    assert candidates("9261290100130436500007") == []  # check digit wrong
