"""The floors of pyproject.toml's runtime dependencies, and the smoke run `.ci/floors` makes with them.

    python3 .ci/floors.py constraints      # `name==floor[; marker]` per dependency (pip constraints)
    python .ci/floors.py check             # the running interpreter has exactly those versions
    python .ci/floors.py smoke ROOT        # import everything, every fixture against its golden, serve one webhook

Every runtime dependency must declare a floor (`>=X`): a dependency without one could not be tested at its
minimum. Standard library only (the first two run before anything is installed).
"""
from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;]*?)\s*(;.*)?$")


def floors(pyproject: Path = ROOT / "pyproject.toml") -> list[tuple[str, str, str]]:
    """(name, floor, marker) per runtime dependency; ValueError naming a dependency without a floor."""
    out = []
    for requirement in tomllib.loads(pyproject.read_text())["project"]["dependencies"]:
        match = _REQUIREMENT.match(requirement)
        if match is None:
            raise ValueError(f"unreadable requirement {requirement!r}")
        name, _extras, spec, marker = match.groups()
        floor = re.search(r">=\s*([0-9][^,\s]*)", spec)
        if floor is None:
            raise ValueError(f"{name}: no floor (>=X) declared in pyproject.toml")
        out.append((name, floor.group(1), (marker or "").strip()))
    return out


def constraints() -> str:
    return "\n".join(f"{name}=={floor}{' ' + marker if marker else ''}" for name, floor, marker in floors())


def check() -> None:
    from importlib.metadata import PackageNotFoundError, version

    def release(text: str) -> tuple[int, ...]:
        parts = [int(p) for p in re.findall(r"\d+", text.split("+")[0])]
        while parts and parts[-1] == 0:
            parts.pop()
        return tuple(parts)

    wrong = []
    for name, floor, marker in floors():
        try:
            installed = version(name)
        except PackageNotFoundError:
            if marker:  # a platform the marker leaves it out on
                continue
            raise
        if release(installed) != release(floor):
            wrong.append(f"{name} {installed} installed, floor {floor}")
    if wrong:
        sys.exit("floors: " + "; ".join(wrong))


def smoke(root: Path) -> None:
    """What a deployment does first, at the floors: import every module, normalize, serve one webhook."""
    import asyncio
    import importlib
    import json
    import pkgutil
    import tempfile

    import parsers
    import service
    import taxonomy

    for package in (taxonomy, parsers, service):
        assert not Path(package.__file__).is_relative_to(root / package.__name__), f"{package.__name__} imported from the checkout, not the install"
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not module.name.endswith(".__main__"):
                importlib.import_module(module.name)

    from parsers import normalize_document, record

    # Every fixture against its golden record (the parsers lean on lxml, dateutil, pydantic, orjson, tzdata).
    fixtures = root / "fixtures"
    goldens = sorted(fixtures.glob("*/*.golden.json"))
    for golden in goldens:
        stem = golden.name[:-len(".golden.json")]
        (payload,) = [p for p in golden.parent.glob(stem + ".*") if p != golden]
        carrier = stem.split("@", 1)[1] if "@" in stem else "auto"
        got = record(normalize_document(payload.read_bytes(), carrier=carrier, keep_unnumbered=True),
                     payload.relative_to(fixtures).as_posix())
        assert json.loads(json.dumps(got)) == json.loads(golden.read_text("utf-8")), f"{payload}: differs at the floors"
    assert len(goldens) > 100, goldens
    fixture = fixtures / "ups_track_json/delivered_received_by.json"

    from aiohttp import ClientSession, web

    from service.app import create_app
    from service.config import Settings

    async def serve_one(tmp: str) -> None:
        app = create_app(Settings(db=f"{tmp}/smoke.db", open_sources=frozenset({"ups"}),
                                  notify_file=f"{tmp}/notifications.jsonl"))
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with ClientSession() as http:
                async with http.post(f"http://127.0.0.1:{port}/webhooks/ups", data=fixture.read_bytes(),
                                     headers={"Content-Type": "application/json"}) as response:
                    assert response.status == 202, await response.text()
                async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                    assert response.status == 200, await response.text()
                async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                    assert 'carrier_events_webhooks_total{outcome="accepted",source="ups"} 1.0' in await response.text()
        finally:
            await runner.cleanup()

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(serve_one(tmp))


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "constraints":
        print(constraints())
    elif command == "check":
        check()
    elif command == "smoke" and len(sys.argv) == 3:
        smoke(Path(sys.argv[2]).resolve())
    else:
        sys.exit(__doc__)
