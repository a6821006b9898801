"""Large but valid carrier documents for the availability bench and tests (built in memory, nothing stored).

- `many_scans(n)`: one UPS shipment with `n` scans (20,000 scans is about 1.8 MB);
- `long_description(size)`: one UPS scan whose description is `size` bytes of words;
- `big_x12(size, tag)`: an X12 214 interchange of about `size` bytes (many shipment status loops; `tag`
  varies the shipment numbers, so copies are new shipments).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson

_CODES = (("I", "Arrived at Facility", "AR"), ("I", "Departed from Facility", "DP"),
          ("I", "Processing at UPS Facility", "YP"))


def _scan(moment: datetime, kind: str, text: str, code: str) -> dict:
    return {"location": {"address": {"city": "Boise", "stateProvince": "ID", "countryCode": "US", "country": "US"}},
            "status": {"type": kind, "description": text, "code": code},
            "date": moment.strftime("%Y%m%d"), "time": moment.strftime("%H%M%S")}


def _ups(tn: str, scans: list[dict]) -> bytes:
    return orjson.dumps({"trackResponse": {"shipment": [{"inquiryNumber": tn, "package": [
        {"trackingNumber": tn, "activity": scans}]}]}})


def many_scans(n: int, tn: str = "1Z4F7W390361553013") -> bytes:
    start = datetime(2025, 3, 1, tzinfo=timezone.utc)
    return _ups(tn, [_scan(start + timedelta(seconds=37 * i), *_CODES[i % 3]) for i in range(n)][::-1])


def long_description(size: int, tn: str = "1Z4F7W390361553021") -> bytes:
    words = ("parcel arrived at the sorting facility and was processed for onward transport ") * (size // 80 + 1)
    # a code no table knows: the text goes to the keyword rules, as a carrier's free-form scan would
    return _ups(tn, [_scan(datetime(2025, 3, 2, 10, tzinfo=timezone.utc), "I", words[:size], "Q9")])


def big_x12(size: int, tag: int = 0) -> bytes:
    head = ("ISA*00*          *00*          *ZZ*CARRIER        *ZZ*SHIPPER        *250312*1200*U*00401*"
            "000000001*0*P*>~GS*QM*CARRIER*SHIPPER*20250312*1200*1*X*004010~")
    parts, i = [head], 0
    total = len(head)
    while total < size:
        i += 1
        block = (f"ST*214*{i:04d}~B10*PRO{tag}{i:07d}*BOL{i:06d}*SCAC~LX*1~AT7*X6*NS***20250312*{1000 + i % 800:04d}*LT~"
                 f"MS1*BOISE*ID*US~SE*6*{i:04d}~")
        parts.append(block)
        total += len(block)
    parts.append("GE*1*1~IEA*1*000000001~")
    return "".join(parts).encode()
