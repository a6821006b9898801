"""`python -m bench.chaos <run>|all`: see the package docstring."""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys

from . import __doc__ as DOC
from .harness import Row


async def _one(name: str) -> Row:
    from . import races, runs

    table = {
        "sigkill-embedded": lambda: runs.sigkill_storm(amqp=False),
        "sigkill-amqp": lambda: runs.sigkill_storm(amqp=True),
        "broker-outage": lambda: runs.broker("refuse"),
        "broker-blackhole": lambda: runs.broker("blackhole"),
        "worker-crash-loop": runs.worker_crash_loop,
        "disk-full": runs.disk_full,
        "state-race-sqlite": lambda: races.state_race("sqlite"),
        "state-race-postgresql": lambda: races.state_race("postgresql"),
    }
    return await table[name]()


RUNS = ["sigkill-embedded", "sigkill-amqp", "broker-outage", "broker-blackhole", "worker-crash-loop",
        "disk-full", "state-race-sqlite", "state-race-postgresql"]
HEADER = ("| run | accepted (202) | lost | duplicated | dead | time to recover | command |\n"
          "|---|---|---|---|---|---|---|")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.chaos", description=DOC,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", choices=[*RUNS, "all"])
    args = ap.parse_args(argv)
    if args.run == "all":  # each run in its own process, as its row's command says
        code = 0
        for name in RUNS:
            code |= subprocess.run([sys.executable, "-m", "bench.chaos", name]).returncode
        return code
    if args.run == "disk-full" and os.geteuid() != 0:
        print(f"{HEADER}\n| disk full and freed | skipped: mounting a small tmpfs needs root |  |  |  |  | |")
        return 0
    row = asyncio.run(_one(args.run))
    print(f"\n{HEADER}\n{row.line()}")
    for note in row.notes:
        print(f"   {note}")
    sys.stdout.flush()
    return 0 if not (row.lost or row.duplicated) else 1


if __name__ == "__main__":
    raise SystemExit(main())
