"""How well the generic parser reads carriers it has no plugin for.

    python -m bench.generic [--verbose] [FOLDER]

Normalizes every payload of FOLDER (default `fixtures/generic_carriers`:
documents composed after the published answers of carriers without a plugin
of their own) as the CLI does (`--carrier auto`, shipments without a number
kept) and scores the result against the folder's `expected.toml`, the facts
read by hand from each carrier's text:

  parsed   ok, with shipments (or, for an error answer, a carrier_error and none)
  tn       the set of tracking numbers is the expected one ("" = not in the document)
  status   the shipment's status is the expected one
  events   share of the expected event statuses (newest first) our events agree with
  generic  the generic parser did the work (no plugin claimed the document)

Each ratio is the mean over the documents it applies to. Not a test: the
figures are for comparing one version of the parser with another
(`tests/test_generic_carriers.py` holds the floor they must not fall under).
"""
from __future__ import annotations

import argparse
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from parsers import normalize_document

FOLDER = Path(__file__).resolve().parent.parent / "fixtures" / "generic_carriers"
METRICS = ("parsed", "tn", "status", "events", "generic")


@dataclass
class Score:
    name: str
    values: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def score_document(path: Path, expected: dict) -> Score:
    out = normalize_document(path.read_bytes(), carrier="auto", keep_unnumbered=True)
    s = Score(path.name)
    s.values["generic"] = 1.0 if out.parser == "generic.heuristic" else 0.0
    if expected.get("carrier_error"):
        errors = [e for e in out.errors if e.kind == "carrier_error"]
        s.values["parsed"] = 1.0 if out.ok and errors and not out.shipments else 0.0
        if not s.values["parsed"]:
            s.notes.append(f"expected a carrier error, got ok={out.ok} shipments={len(out.shipments)}")
        return s
    s.values["parsed"] = 1.0 if out.ok and out.shipments else 0.0
    numbers = sorted(sh.tracking_number or "" for sh in out.shipments)
    want = sorted(expected["tracking_numbers"])
    s.values["tn"] = 1.0 if numbers == want else 0.0
    if numbers != want:
        s.notes.append(f"tn: expected {want} got {numbers}")
    shipment = out.shipments[0] if len(out.shipments) == 1 else None
    got = shipment.status.value if shipment else None
    s.values["status"] = 1.0 if got == expected["status"] else 0.0
    if got != expected["status"]:
        s.notes.append(f"status: expected {expected['status']} got {got}")
    statuses = [e.status.value for e in shipment.events] if shipment else []
    want_events = expected["events"]
    agree = sum(a == b for a, b in zip(statuses, want_events))
    s.values["events"] = agree / max(len(want_events), len(statuses), 1)
    if statuses != want_events:
        s.notes.append(f"events: expected {want_events} got {statuses}")
    return s


def evaluate(folder: Path = FOLDER) -> tuple[list[Score], dict[str, float]]:
    expected = tomllib.loads((folder / "expected.toml").read_text("utf-8"))
    scores = [score_document(folder / name, facts) for name, facts in expected.items()]
    totals = {}
    for metric in METRICS:
        values = [s.values[metric] for s in scores if metric in s.values]
        totals[metric] = sum(values) / len(values) if values else float("nan")
    return scores, totals


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", type=Path, default=FOLDER)
    ap.add_argument("--verbose", action="store_true", help="list each disagreement")
    args = ap.parse_args(argv)
    scores, totals = evaluate(args.folder)
    width = max(len(s.name) for s in scores)
    print(f"{'document':{width}}  " + "  ".join(f"{m:>7}" for m in METRICS))
    for s in scores:
        cells = "  ".join(f"{s.values[m]:7.2f}" if m in s.values else f"{'-':>7}" for m in METRICS)
        print(f"{s.name:{width}}  {cells}")
        if args.verbose:
            for note in s.notes:
                print(f"{'':{width}}    {note}")
    print(f"generic: docs={len(scores)} " + " ".join(f"{m}={totals[m]:.3f}" for m in METRICS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
