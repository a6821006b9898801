"""Signed webhooks at a paced rate, as a carrier sends them: its own process, one JSON report at the end.

    python -m bench.cluster.sender URL --secret WHSEC --rate R --seconds S --offset N --out FILE

Each request is one UPS document with one scan of a distinct tracking number, signed per Standard Webhooks
(`webhook-id` msg_<number>), posted to URL/webhooks/ups over keep-alive connections (the lean client of
`bench.load`). The report says, per tracking number, whether it got its 202, and when and how every other
request was refused (status code, or 0 for a connection that failed), which is what a carrier would retry.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from service.signatures import sign_standard_webhook
from tests.docs import stream_number, ups_track

from ..load import _Connection, percentile


# Scans an hour old (UTC; the document's local time reads the same to the parser): fresh, so no node's
# stalled sweep derives events for them while a run lasts.
_SCANNED = datetime.now(timezone.utc) - timedelta(hours=1)


def signed_request(host: str, port: int, secret: str, n: int, now: int | None = None) -> tuple[str, bytes]:
    """(tracking number, the whole HTTP request) for document n."""
    tn = stream_number(n)
    body = ups_track(tn, [("origin", _SCANNED.strftime("%Y%m%d"), _SCANNED.strftime("%H%M") + f"{n % 60:02d}")])
    ts = int(time.time()) if now is None else now
    msg = f"msg_{tn}"
    head = (f"POST /webhooks/ups HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"webhook-id: {msg}\r\nwebhook-timestamp: {ts}\r\n"
            f"webhook-signature: {sign_standard_webhook(secret, msg, ts, body)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return tn, head.encode() + body


async def run(url: str, secret: str, rate: float, seconds: float, offset: int, concurrency: int) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    accepted: list[str] = []
    refused: list[tuple[float, int]] = []  # (seconds into the run, status or 0)
    latencies: list[float] = []
    sent = 0
    start = time.perf_counter()
    deadline = start + seconds

    async def worker() -> None:
        nonlocal sent
        connection: _Connection | None = None
        while True:
            i = sent
            sent += 1
            t0 = start + i / rate if rate else time.perf_counter()  # rate 0: closed loop, as fast as answered
            if t0 >= deadline:  # paced: every request of the schedule is sent, late or not
                break
            if t0 > time.perf_counter():
                await asyncio.sleep(t0 - time.perf_counter())
            tn, request = signed_request(host, port, secret, offset + i)
            try:
                if connection is None or connection.closed:
                    _, connection = await loop.create_connection(_Connection, host, port)
                status = await connection.request(request)
            except (OSError, ValueError):
                connection = None
                refused.append((time.perf_counter() - start, 0))
                continue
            if status == 202:
                accepted.append(tn)
                latencies.append(time.perf_counter() - t0)
            else:
                refused.append((time.perf_counter() - start, status))
        if connection is not None:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return {"sent": len(accepted) + len(refused), "accepted": accepted, "refused": refused, "elapsed": elapsed,
            "rate": len(accepted) / elapsed, "p50_ms": percentile(latencies, 0.5) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("--secret", required=True)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--concurrency", type=int, default=128)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    from service import event_loop

    with asyncio.Runner(loop_factory=event_loop.factory()) as runner:
        report = runner.run(run(args.url, args.secret, args.rate, args.seconds, args.offset, args.concurrency))
    with open(args.out, "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main()
