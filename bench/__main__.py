"""Parse+map throughput per format on one core, over the fixtures.

    python -m bench [--seconds S] [--only NAME,...]

For every format with fixtures, normalizes its payloads in a loop (detection,
parser, mapping, time resolution, event ids, shipment state: the whole
`normalize_document` path, output serialization excluded) and prints events/s
(over the documents that hold events) and documents/s (over all). Each
document's time is its best sample over interleaved passes (`bench.timing`).
The baseline, measured in the same run on the same bytes, is the bare decode
(orjson for JSON, the hardened lxml parse for XML, text decode for EDI): the
ratio says how much our work costs on top of reading the bytes.
A synthetic 20-event UPS Track API document measures the headline figure,
beside the peer library karrio on the same document when it is installed
(`pip install -e '.[bench]'`). The same document also goes through the CLI's
whole per-file path (`service.cli.normalize_file`: read the file, normalize,
write the JSON line), timed in the same run, for the documents/s a
`python -m service normalize` user gets, output included.
"""
from __future__ import annotations

import argparse
import copy
import json
import tempfile
from functools import partial
from pathlib import Path

import orjson

from parsers import normalize_document
from parsers.document import Document
from parsers.registry import plugins
from parsers.safe import decode_text, load_xml
from service.cli import normalize_file

from .peer_karrio import karrio_ups_parse
from .timing import Timer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _decode(data: bytes) -> object:
    media = Document(data).media
    if media == "json":
        return orjson.loads(data)
    if media == "xml":
        return load_xml(data)
    return decode_text(data)


def _events(doc: bytes) -> int:
    return sum(len(s.events) for s in normalize_document(doc).shipments)


def _docs(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(folder.iterdir())
            if p.suffix in (".json", ".xml", ".edi", ".txt") and not p.name.endswith(".golden.json")]


def _row(name: str, docs: list[bytes], best: dict) -> dict:
    """Figures for one format: events/s over its documents that hold events, docs/s over all of them.

    Carrier-error and not-found documents hold no events; timing them into an
    events/s figure would measure the fixture mix, not the parser.
    """
    costs = [best[(name, "normalize", i)] for i in range(len(docs))]
    base = sum(best[(name, "decode", i)] for i in range(len(docs)))
    counts = [_events(d) for d in docs]
    events = sum(counts)
    event_cost = sum(c for c, n in zip(costs, counts) if n)
    return {"format": name, "docs": len(docs), "event_docs": sum(1 for n in counts if n), "events": events,
            "events_per_s": events / event_cost if events else 0.0, "docs_per_s": len(docs) / sum(costs),
            "decode_docs_per_s": len(docs) / base, "cost_vs_decode": sum(costs) / base}


def ups_twenty_event_document() -> bytes:
    """A UPS Track API document with 20 activities (the headline benchmark shape)."""
    base = {"trackResponse": {"shipment": [{"inquiryNumber": "1Z999AA10123456784", "package": [{
        "trackingNumber": "1Z999AA10123456784", "deliveryDate": [{"type": "DEL", "date": "20260312"}],
        "activity": []}]}]}}
    steps = [("M", "MP", "Shipper created a label, UPS has not received the package yet."),
             ("I", "XD", "Drop-Off"), ("I", "OR", "Origin Scan"), ("I", "DP", "Departed from Facility"),
             ("I", "AR", "Arrived at Facility"), ("I", "YP", "Processing at UPS Facility"),
             ("I", "OT", "Out For Delivery Today"), ("D", "FS", "Delivered")]
    places = [("ATLANTA", "GA", "30301"), ("LOUISVILLE", "KY", "40201"), ("HODGKINS", "IL", "60525"),
              ("ADRIAN", "MI", "49221")]
    acts = []
    for i in range(20):
        kind, code, text = steps[0] if i == 0 else steps[-1] if i == 19 else steps[1 + (i % 6)]
        city, state, zip_ = places[i * len(places) // 20]
        acts.append({"location": {"address": {"city": city, "stateProvince": state, "postalCode": zip_,
                                              "country": "US"}},
                     "status": {"type": kind, "description": text, "code": code},
                     "date": f"202603{1 + i // 2:02d}", "time": f"{(i * 7) % 24:02d}{(i * 13) % 60:02d}00"})
    base["trackResponse"]["shipment"][0]["package"][0]["activity"] = list(reversed(acts))
    return json.dumps(copy.deepcopy(base)).encode()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=1.0, help="time per format (default 1 s)")
    ap.add_argument("--only", default="", help="comma-separated format names (e.g. ups.track_json)")
    args = ap.parse_args(argv)
    only = {n for n in args.only.split(",") if n}
    headline = ups_twenty_event_document()
    formats = {"ups.track_json (20-event doc)": [headline]}
    for plugin in plugins():
        folder = FIXTURES / plugin.name.replace(".", "_")
        if (not only or plugin.name in only) and folder.is_dir() and _docs(folder):
            formats[plugin.name] = _docs(folder)
    timer = Timer()
    for name, docs in formats.items():
        each = args.seconds / len(docs)
        for i, doc in enumerate(docs):
            timer.add((name, "normalize", i), partial(normalize_document, doc), each * 0.8)
            timer.add((name, "decode", i), partial(_decode, doc), each * 0.2)
    peer = karrio_ups_parse(headline)
    if peer is not None:
        timer.add("peer", peer[0], args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        cli_input = Path(tmp) / "ups-20-events.json"
        cli_input.write_bytes(headline)
        timer.add("cli", partial(normalize_file, str(cli_input), "auto"), args.seconds)
        best = timer.run()
    rows = [_row(name, docs, best) for name, docs in formats.items()]
    print(f"{'format':34} {'docs':>4} {'w/ev':>4} {'events':>6} {'events/s':>10} {'docs/s':>9} "
          f"{'decode docs/s':>13} {'x decode':>8}")
    for r in rows:
        print(f"{r['format']:34} {r['docs']:>4} {r['event_docs']:>4} {r['events']:>6} {r['events_per_s']:>10,.0f} "
              f"{r['docs_per_s']:>9,.0f} {r['decode_docs_per_s']:>13,.0f} {r['cost_vs_decode']:>8.1f}")
    print("\nevents/s: over the documents with events (w/ev); docs/s and x decode: over all documents;"
          "\ndecode: bare orjson / hardened lxml / text decode of the same bytes, in the same run.")
    with_events = [r for r in rows[1:] if r["events"]]
    if with_events:
        slowest = min(with_events, key=lambda r: r["events_per_s"])
        print(f"\nheadline: UPS 20-event document {rows[0]['events_per_s']:,.0f} events/s; "
              f"slowest format {slowest['format']} {slowest['events_per_s']:,.0f} events/s")
    cli_docs = 1 / best["cli"]
    output_us = (best["cli"] - best[(next(iter(formats)), "normalize", 0)]) * 1e6
    print(f"cli: the same document through `normalize` (read the file, normalize, write the JSON line) "
          f"{cli_docs:,.0f} docs/s ({cli_docs * rows[0]['events']:,.0f} events/s; reading and output "
          f"{output_us:,.0f} us/doc)")
    if peer is None:
        print("peer: karrio not installed (pip install -e '.[bench]') - no peer figure")
    else:
        peer_rate = peer[1] / best["peer"]
        print(f"peer: karrio UPS tracking parse {peer_rate:,.0f} events/s, {1 / best['peer']:,.0f} docs/s on the "
              f"same document; ours is {rows[0]['events_per_s'] / peer_rate:.1f}x parsing, "
              f"{cli_docs * best['peer']:.1f}x through the CLI with its output")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
