"""Golden files for fixtures: `<case>.<ext>` beside `<case>.golden.json`.

    python -m tests.goldens [FOLDER ...]        # show what differs from the golden files
    python -m tests.goldens --write FOLDER ...  # write goldens for review (then read every line)

A golden holds the CLI record of its payload (path relative to fixtures/). It
is written by this tool only as a draft: each one is read and checked by hand
against the carrier's documentation before it is committed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from parsers import normalize_document, record

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PAYLOAD_SUFFIXES = (".json", ".xml", ".edi", ".txt")


def payloads(folder: Path | None = None) -> list[Path]:
    roots = [folder] if folder else sorted(p for p in FIXTURES.iterdir() if p.is_dir())
    return sorted(p for root in roots for p in root.iterdir()
                  if p.suffix in PAYLOAD_SUFFIXES and not p.name.endswith(".golden.json"))


def golden_path(payload: Path) -> Path:
    return payload.with_name(payload.stem + ".golden.json")


def carrier_hint(payload: Path) -> str:
    """Fixtures normalize with --carrier auto unless the case name pins one: '<case>@<slug>.<ext>'."""
    return payload.stem.split("@", 1)[1] if "@" in payload.stem else "auto"


def actual(payload: Path) -> dict:
    rel = payload.relative_to(FIXTURES).as_posix()
    return record(normalize_document(payload.read_bytes(), carrier=carrier_hint(payload), keep_unnumbered=True), rel)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("folders", nargs="*")
    args = ap.parse_args(argv)
    folders = [FIXTURES / f for f in args.folders] or [None]
    differ = 0
    for folder in folders:
        for payload in payloads(folder):
            got = actual(payload)
            gold = golden_path(payload)
            if args.write:
                gold.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
                print(f"wrote {gold.relative_to(FIXTURES)}")
            elif not gold.exists() or json.loads(gold.read_text("utf-8")) != got:
                differ += 1
                print(f"DIFFERS {payload.relative_to(FIXTURES)}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
