"""Carrier documents composed on the fly for service tests and benchmarks (UPS Track API JSON shape)."""
from __future__ import annotations

import json

SCANS = {
    "label": ("M", "MP", "Shipper created a label, UPS has not received the package yet."),
    "origin": ("I", "OR", "Origin Scan"),
    "arrived": ("I", "AR", "Arrived at Facility"),
    "out": ("I", "OT", "Out For Delivery Today"),
    "delivered": ("D", "FS", "Delivered"),
    "weather": ("X", "7W", "Severe weather conditions have delayed delivery."),
    "lost": ("X", "AJ", "Merchandise is missing. UPS will notify the sender with additional details."),
}


def ups_track(tracking_number: str, scans: list[tuple[str, str, str]], city: str = "ATLANTA",
              state: str = "GA") -> bytes:
    """A Track API response for one package; scans are (kind in SCANS, 'yyyymmdd', 'hhmmss'), any order."""
    activity = []
    for kind, day, clock in scans:
        typ, code, text = SCANS[kind]
        activity.append({"location": {"address": {"city": city, "stateProvince": state, "country": "US"}},
                         "status": {"type": typ, "code": code, "description": text},
                         "date": day, "time": clock})
    return json.dumps({"trackResponse": {"shipment": [{"inquiryNumber": tracking_number, "package": [
        {"trackingNumber": tracking_number, "activity": activity}]}]}}).encode()


def stream_number(i: int) -> str:
    """Distinct, UPS-shaped tracking numbers for load and crash tests."""
    return f"1ZTEST{i:012d}"
