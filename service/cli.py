"""`python -m service ...` / `carrier-events ...`: the command-line contract of DESIGN.md."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from parsers import normalize_document, record
from parsers.safe import MAX_DOCUMENT_BYTES


def _normalize(args: argparse.Namespace) -> int:
    """One JSON object per input path, in argument order; a bad file is a record, not a failure."""
    out = sys.stdout.buffer
    for path in args.paths:
        try:
            size = Path(path).stat().st_size
            if size > MAX_DOCUMENT_BYTES:
                raise ValueError(f"file of {size} bytes exceeds the {MAX_DOCUMENT_BYTES}-byte limit")
            data = Path(path).read_bytes()
        except (OSError, ValueError) as exc:
            line = {"path": path, "carrier": None, "parser": None, "ok": False, "shipments": [],
                    "errors": [{"kind": "unparseable", "message": f"cannot read file: {exc}"}]}
        else:
            line = record(normalize_document(data, carrier=args.carrier), path)
        out.write(orjson.dumps(line) + b"\n")
    out.flush()
    return 0


def _schema(args: argparse.Namespace) -> int:
    from .schema import write_schemas

    for written in write_schemas(Path(args.out)):
        print(written)
    return 0


def _configure_logging() -> None:
    import logging

    from .logmask import install

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install()


def _serve(args: argparse.Namespace) -> int:
    import logging

    from aiohttp import web

    from .app import create_app
    from .config import Settings

    _configure_logging()
    settings = Settings.from_env(host=args.host, port=args.port, db=args.db, amqp_url=args.amqp_url)
    web.run_app(create_app(settings), host=settings.host, port=settings.port,
                shutdown_timeout=settings.shutdown_timeout, print=None, handle_signals=True,
                keepalive_timeout=settings.idle_timeout,
                access_log=logging.getLogger("aiohttp.access") if settings.access_log else None)
    return 0


def _worker(args: argparse.Namespace) -> int:
    import asyncio

    from .config import Settings
    from .worker import run

    _configure_logging()
    if args.role not in ("normalize", "all"):
        print(f"worker: role {args.role!r} has no consumers yet; use normalize", file=sys.stderr)
        return 2
    asyncio.run(run(Settings.from_env(db=args.db, amqp_url=args.amqp_url)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carrier-events", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    norm = sub.add_parser("normalize", help="normalize raw carrier documents to JSON Lines on stdout")
    norm.add_argument("--carrier", default="auto", help="carrier slug or 'auto' (default: detect)")
    norm.add_argument("paths", nargs="+", metavar="PATH")
    norm.set_defaults(func=_normalize)
    schema = sub.add_parser("schema", help="write JSON Schemas of the contracts")
    schema.add_argument("--out", default="schemas", help="output directory (default: ./schemas)")
    schema.set_defaults(func=_schema)
    serve = sub.add_parser("serve", help="run the service (embedded bus unless an AMQP URL is given)")
    serve.add_argument("--host", default=None, help="listen address (default 127.0.0.1, env CARRIER_EVENTS_HOST)")
    serve.add_argument("--port", type=int, default=None, help="listen port (default 8080, env CARRIER_EVENTS_PORT)")
    serve.add_argument("--db", default=None, help="SQLite file (default ./data/carrier-events.db)")
    serve.add_argument("--amqp-url", default=None, help="RabbitMQ URL (default: embedded bus)")
    serve.set_defaults(func=_serve)
    worker = sub.add_parser("worker", help="extra normalizers sharing the store (and broker) with serve")
    worker.add_argument("--amqp-url", default=None, help="RabbitMQ URL (default: embedded, shared SQLite file)")
    worker.add_argument("--db", default=None, help="SQLite file shared with serve")
    worker.add_argument("--role", default="normalize", choices=("normalize", "actions", "all"))
    worker.set_defaults(func=_worker)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
