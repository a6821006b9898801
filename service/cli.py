"""`python -m service ...` / `carrier-events ...`: the command-line contract of DESIGN.md."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import orjson

from parsers import normalize_document
from parsers.normalize import record_json
from parsers.safe import MAX_DOCUMENT_BYTES


def _normalize(args: argparse.Namespace) -> int:
    """One JSON object per input path, in argument order; a bad file is a record, not a failure."""
    out = sys.stdout.buffer
    for path in args.paths:
        out.write(normalize_file(path, args.carrier, args.tracking_number))
    out.flush()
    return 0


def normalize_file(path: str, carrier: str | None = "auto", tracking_number: str | None = None) -> bytes:
    """The output line for one input file (the whole per-file work of `normalize`, for benchmarks too)."""
    try:
        data = _read(path)
    except (OSError, ValueError):
        try:  # the reference reading, for its exact message (pathlib names the file as it normalizes it)
            file = Path(path)
            size = file.stat().st_size
            if size > MAX_DOCUMENT_BYTES:
                raise ValueError(f"file of {size} bytes exceeds the {MAX_DOCUMENT_BYTES}-byte limit")
            data = file.read_bytes()
        except (OSError, ValueError) as exc:
            line = {"path": path, "carrier": None, "parser": None, "ok": False, "shipments": [],
                    "errors": [{"kind": "unparseable", "message": f"cannot read file: {exc}"}]}
            return orjson.dumps(line) + b"\n"
    return record_json(normalize_document(data, carrier=carrier, tracking_number=tracking_number,
                                          keep_unnumbered=True), path)


def _read(path: str) -> bytes:
    """The file's bytes by plain descriptor calls (a quarter of pathlib's cost); any problem raises."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size > MAX_DOCUMENT_BYTES:
            raise ValueError("too large")
        chunks = []
        while chunk := os.read(fd, max(size + 1, 65536)):
            chunks.append(chunk)
        return b"".join(chunks) if len(chunks) != 1 else chunks[0]
    finally:
        os.close(fd)


def _schema(args: argparse.Namespace) -> int:
    from .schema import write_schemas

    for written in write_schemas(Path(args.out)):
        print(written)
    return 0


def _settings(**flags: object):
    """Settings from the environment and flags, or None after printing what is wrong with them."""
    from .config import Settings
    from .logs import configure_logging

    try:
        settings = Settings.from_env(**flags)
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return None
    configure_logging(settings.log_format)
    from . import tracing

    try:
        tracing.configure(settings.trace_exporter)
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return None
    return settings


def _serve(args: argparse.Namespace) -> int:
    import logging

    from aiohttp import web

    from . import event_loop, heap
    from .app import create_app

    settings = _settings(host=args.host, port=args.port, db=args.db, amqp_url=args.amqp_url)
    if settings is None:
        return 2
    try:
        app = create_app(settings)
    except ValueError as exc:  # authentication or mapping tables misconfigured: say what, do not start
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2

    async def settle_heap(_app: web.Application) -> None:  # after every resource is open (cleanup_ctx)
        heap.settle()

    app.on_startup.append(settle_heap)
    web.run_app(app, host=settings.host, port=settings.port, loop=event_loop.new(),
                shutdown_timeout=settings.shutdown_timeout, print=None, handle_signals=True,
                keepalive_timeout=settings.idle_timeout,
                access_log=logging.getLogger("aiohttp.access") if settings.access_log else None)
    return 0


def _worker(args: argparse.Namespace) -> int:
    import asyncio

    from . import event_loop
    from .worker import run

    settings = _settings(db=args.db, amqp_url=args.amqp_url)
    if settings is None:
        return 2
    if args.role not in ("normalize", "all"):
        print(f"worker: role {args.role!r} has no consumers yet; use normalize", file=sys.stderr)
        return 2
    with asyncio.Runner(loop_factory=event_loop.factory()) as runner:
        runner.run(run(settings))
    return 0


def _replay(args: argparse.Namespace) -> int:
    """Mark stored documents for re-normalizing; the running service (or a worker) does the work."""
    import asyncio

    from .store import open_store
    from .web.admin import replay_filter

    settings = _settings(db=args.db)
    if settings is None:
        return 2
    raw = {k: v for k, v in {"states": args.state, "source": args.source, "carrier": args.carrier,
                             "since": args.since, "until": args.until, "reason": args.reason,
                             "limit": args.limit}.items() if v is not None}
    try:
        selection = replay_filter(raw)
    except ValueError as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2

    async def run() -> dict:
        store = open_store(settings.db, sqlite_synchronous=settings.sqlite_synchronous)
        await store.open()
        try:
            ids = await store.replay(selection, dry_run=args.dry_run)
            answer: dict = {"count": len(ids), "ids": [str(i) for i in ids], "dry_run": args.dry_run,
                            "changes": None}
            if args.dry_run:  # what would change, by carrier and code, with the local tables too
                from taxonomy.mapping import use_local_tables

                from .replay_preview import preview
                use_local_tables(settings.maps_dir)
                answer["changes"] = await preview(store, ids)
            return answer
        finally:
            await store.close()

    print(orjson.dumps(asyncio.run(run())).decode())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carrier-events", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    norm = sub.add_parser("normalize", help="normalize raw carrier documents to JSON Lines on stdout")
    norm.add_argument("--carrier", default="auto", help="carrier slug or 'auto' (default: detect)")
    norm.add_argument("--tracking-number", default=None, metavar="TN",
                      help="the number the document was requested for, for carriers whose answers do not repeat "
                           "it (applies to every PATH; a number in the document wins)")
    norm.add_argument("paths", nargs="+", metavar="PATH")
    norm.set_defaults(func=_normalize)
    schema = sub.add_parser("schema", help="write the JSON Schemas, OpenAPI and AsyncAPI documents of the contracts")
    schema.add_argument("--out", default=str(Path(__file__).resolve().parent / "published"),
                        help="output directory (default: the committed copies in service/published)")
    schema.set_defaults(func=_schema)
    serve = sub.add_parser("serve", help="run the service (embedded bus unless an AMQP URL is given)")
    serve.add_argument("--host", default=None, help="listen address (default 127.0.0.1, env CARRIER_EVENTS_HOST)")
    serve.add_argument("--port", type=int, default=None, help="listen port (default 8080, env CARRIER_EVENTS_PORT)")
    serve.add_argument("--db", default=None,
                       help="the store: a SQLite file (default ./data/carrier-events.db) or a postgresql:// URL")
    serve.add_argument("--amqp-url", default=None, help="RabbitMQ URL (default: embedded bus)")
    serve.set_defaults(func=_serve)
    worker = sub.add_parser("worker", help="extra normalizers sharing the store (and broker) with serve")
    worker.add_argument("--amqp-url", default=None,
                        help="RabbitMQ URL (default: embedded, the shared store is the queue)")
    worker.add_argument("--db", default=None, help="the store shared with serve: its SQLite file or postgresql:// URL")
    worker.add_argument("--role", default="normalize", choices=("normalize", "actions", "all"))
    worker.set_defaults(func=_worker)
    replay = sub.add_parser("replay", help="re-normalize stored documents (after a parser or mapping fix); "
                            "only events that did not exist before are published")
    replay.add_argument("--db", default=None, help="the service's store: its SQLite file or postgresql:// URL")
    replay.add_argument("--state", default=None,
                        help="comma-separated: quarantined, dead, done (default quarantined,dead)")
    replay.add_argument("--source", default=None, help="webhook source the documents came in on")
    replay.add_argument("--carrier", default=None, help="carrier of the documents' events (or their source)")
    replay.add_argument("--since", default=None, help="received at or after (ISO 8601, UTC if no offset)")
    replay.add_argument("--until", default=None, help="received before (ISO 8601)")
    replay.add_argument("--reason", default=None, help="text the quarantine reason contains")
    replay.add_argument("--limit", type=int, default=None, help="at most this many documents")
    replay.add_argument("--dry-run", action="store_true", help="only list the documents that would be replayed "
                        "and what that would change, by carrier and code")
    replay.set_defaults(func=_replay)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
