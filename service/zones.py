"""The start-up check that the IANA time zone database is there (`serve`, `worker`, `normalize`).

Local scan times are converted with `zoneinfo`, which reads the system's zone files or else the `tzdata`
package (a declared dependency). With neither, a zone lookup fails, the scan's time would be taken as UTC
(`time_basis: assumed_utc`) and its `event_id` would change with the host: refusing to start is better
than publishing wrong times and ids that no longer deduplicate.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Zones whose offsets at fixed instants prove the database is present and has the rules the parsers use.
_PROBES = (("America/Chicago", datetime(2025, 3, 12, 20, 22, tzinfo=timezone.utc), timedelta(hours=-5)),
           ("Europe/Berlin", datetime(2025, 1, 15, 12, 0, tzinfo=timezone.utc), timedelta(hours=1)))

MESSAGE = ("no usable time zone database ({problem}): install the tzdata package "
           "(`pip install tzdata`, a dependency of carrier-events) or the system's tzdata; "
           "without it local scan times would be wrong")


def zone_database_problem() -> str | None:
    """None when every probe zone loads with its known offset, else what is wrong."""
    for name, instant, offset in _PROBES:
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            return f"{name}: {exc}"
        if instant.astimezone(zone).utcoffset() != offset:
            return f"{name}: offset {instant.astimezone(zone).utcoffset()} at {instant.isoformat()}, expected {offset}"
    return None


def check_zone_database() -> str | None:
    """The message to print and refuse to start with, or None when the database is usable."""
    problem = zone_database_problem()
    return MESSAGE.format(problem=problem) if problem else None
