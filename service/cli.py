"""carrier-events: normalize carrier tracking documents, serve the webhook and event API, run workers.

`python -m service COMMAND --help` (or `carrier-events COMMAND --help`) describes each command; README.md
describes the service.
"""
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
    """One JSON object per input path, in argument order. A document no parser reads is a record, not a
    failure; a file that cannot be read is a record too, but also named on stderr and the exit status is 1."""
    if _zone_database_missing():
        return 2
    out = sys.stdout.buffer
    unreadable = 0
    for path in args.paths:
        line, problem = _normalize_path(path, args.carrier, args.tracking_number)
        out.write(line)
        if problem is not None:
            unreadable += 1
            out.flush()
            print(f"normalize: {path}: {problem}", file=sys.stderr)
    out.flush()
    return 1 if unreadable else 0


def _zone_database_missing() -> bool:
    """True (after saying why on stderr) when local times could not be converted correctly."""
    from .zones import check_zone_database

    message = check_zone_database()
    if message:
        print(f"error: {message}", file=sys.stderr)
    return message is not None


def normalize_file(path: str, carrier: str | None = "auto", tracking_number: str | None = None) -> bytes:
    """The output line for one input file (the whole per-file work of `normalize`, for benchmarks too)."""
    return _normalize_path(path, carrier, tracking_number)[0]


def _normalize_path(path: str, carrier: str | None, tracking_number: str | None) -> tuple[bytes, str | None]:
    """The output line, and why the file could not be read (None when it was)."""
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
            return orjson.dumps(line) + b"\n", f"cannot read file: {exc}"
    return record_json(normalize_document(data, carrier=carrier, tracking_number=tracking_number,
                                          keep_unnumbered=True), path), None


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
    if _zone_database_missing():  # first: the carrier registry itself checks its zones when loaded
        return 2
    import asyncio
    import logging

    from aiohttp import web

    from . import event_loop, heap
    from .app import create_app
    from .keys import DRAIN

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

    async def drain_on_signals(app: web.Application) -> None:  # replaces aiohttp's stop-at-once handlers
        app[DRAIN].install(asyncio.get_running_loop())

    app.on_startup.extend([settle_heap, drain_on_signals])
    web.run_app(app, host=settings.host, port=settings.port, loop=event_loop.new(),
                shutdown_timeout=settings.shutdown_timeout, print=None, handle_signals=True,
                keepalive_timeout=settings.idle_timeout,
                access_log=logging.getLogger("aiohttp.access") if settings.access_log else None)
    return 0


def _worker(args: argparse.Namespace) -> int:
    if _zone_database_missing():  # first: the carrier registry itself checks its zones when loaded
        return 2
    import asyncio

    from . import event_loop
    from .worker import run

    settings = _settings(db=args.db, amqp_url=args.amqp_url)
    if settings is None:
        return 2
    from .ops import PortUnavailable

    try:
        with asyncio.Runner(loop_factory=event_loop.factory()) as runner:
            runner.run(run(settings))
    except PortUnavailable as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    return 0


def _config(args: argparse.Namespace) -> int:
    """The effective configuration, secrets masked; exit 2 (with every problem named) when it is invalid."""
    from .settings_view import render

    try:
        text = render(host=args.host, port=args.port, db=args.db, amqp_url=args.amqp_url)
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


class _Version(argparse.Action):
    """`--version`: the installed distribution's version, looked up only when asked (not on every start)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the installed version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            text = version("carrier-events")
        except PackageNotFoundError:  # run from a checkout that was never installed
            text = "unknown (not installed)"
        print(f"{parser.prog} {text}")
        parser.exit()


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
    parser = argparse.ArgumentParser(prog="carrier-events", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True)
    norm = sub.add_parser("normalize", help="normalize raw carrier documents to JSON Lines on stdout")
    norm.add_argument("--carrier", default="auto", help="carrier slug or 'auto' (default: detect)")
    norm.add_argument("--tracking-number", default=None, metavar="TN",
                      help="the number the document was requested for, for carriers whose answers do not repeat "
                           "it (applies to every PATH; a number in the document wins)")
    norm.add_argument("paths", nargs="+", metavar="PATH")
    norm.set_defaults(func=_normalize)
    schema = sub.add_parser("schema", help="write the JSON Schemas, OpenAPI and AsyncAPI documents of the contracts")
    schema.add_argument("--out", default=".",
                        help="output directory (default: the current directory; the repository's copies are "
                             "service/published)")
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
    worker.add_argument("--role", default="normalize", choices=("normalize",),
                        help="what the worker does: normalize (the only role; serve runs the actions stage)")
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
    config = sub.add_parser("config", help="print the effective configuration (flags, CARRIER_EVENTS_* "
                            "variables, defaults) with secrets masked; exit 2 naming every invalid variable")
    config.add_argument("--host", default=None, help="as for serve")
    config.add_argument("--port", type=int, default=None, help="as for serve")
    config.add_argument("--db", default=None, help="as for serve")
    config.add_argument("--amqp-url", default=None, help="as for serve")
    config.set_defaults(func=_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
