"""`python -m bench.cluster failover|duties|throughput`: see the package docstring."""
from __future__ import annotations

import argparse
import asyncio

from . import __doc__ as DOC


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.cluster", description=DOC,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    f = sub.add_parser("failover", help="load through the balancer while nodes are killed; account for every 202")
    f.add_argument("--rate", type=float, default=1000.0)
    f.add_argument("--seconds", type=float, default=20.0)
    f.add_argument("--runs", default="kill-serve,kill-serve-no-retries,kill-worker,rolling,twin")
    d = sub.add_parser("duties", help="three nodes: the sweep, SLA breaches and a poll budget act once")
    d.add_argument("--shipments", type=int, default=300)
    d.add_argument("--poll-rate", type=float, default=100.0)
    d.add_argument("--seconds", type=float, default=10.0)
    t = sub.add_parser("throughput", help="intake through the balancer with 1, 2, 3 serve nodes; CPU per event")
    t.add_argument("--nodes", default="1,2,3")
    t.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args(argv)
    if args.command == "failover":
        from .failover import failover

        asyncio.run(failover(args.rate, args.seconds, args.runs.split(",")))
    elif args.command == "duties":
        from .duties import duties

        asyncio.run(duties(args.shipments, args.poll_rate, args.seconds))
    else:
        from .throughput import throughput

        asyncio.run(throughput([int(n) for n in args.nodes.split(",")], args.seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
