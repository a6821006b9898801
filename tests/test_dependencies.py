"""The install files mean what they say: every runtime dependency has a tested floor (`.ci/floors`, run
by `.ci/run`), the image installs exactly `requirements.lock` (pinned, hashed, covering every dependency
the project declares), and the Dockerfile builds in stages on a pinned base image."""
from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
_spec = importlib.util.spec_from_file_location("floors", ROOT / ".ci/floors.py")
floors = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(floors)


def lock() -> dict[str, tuple[str, str, list[str]]]:
    """name -> (version, marker, hashes) of every entry of requirements.lock."""
    text = (ROOT / "requirements.lock").read_text()
    entries = {}
    for block in re.split(r"\n(?=[a-z0-9])", "\n".join(l for l in text.splitlines() if not l.startswith("#"))):
        head = block.split("\\")[0].strip()
        if not head:
            continue
        requirement = Requirement(head)
        (spec,) = requirement.specifier
        assert spec.operator == "==", head
        entries[canonicalize_name(requirement.name)] = (spec.version, str(requirement.marker or ""),
                                                        re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return entries


def test_every_runtime_dependency_has_a_floor_and_the_floors_are_tested_in_ci():
    runtime = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    assert [name for name, _, _ in floors.floors()] == [r.name for r in runtime]
    for requirement in runtime:
        floor = next(s.version for s in requirement.specifier if s.operator == ">=")
        assert requirement.specifier.contains(floor), requirement
    assert {canonicalize_name(r.name) for r in runtime} >= {"tzdata", "aiohttp"}
    aiohttp = next(r for r in runtime if r.name == "aiohttp")
    assert not aiohttp.specifier.contains("3.13.5")  # web.ResponseKey arrived in 3.14
    ci = (ROOT / ".ci/run").read_text().splitlines()
    assert ".ci/floors" in [line.split("#")[0].strip() for line in ci]
    assert floors.constraints().splitlines()[0].startswith("pydantic==")


def test_the_lock_pins_every_dependency_with_hashes():
    locked = lock()
    for name, (version, _, hashes) in locked.items():
        assert hashes, f"{name}=={version} has no hash"
    for raw in PYPROJECT["project"]["dependencies"] + PYPROJECT["build-system"]["requires"]:
        requirement = Requirement(raw)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in requirements.lock: run .ci/lock"
        version, marker, _ = locked[name]
        assert requirement.specifier.contains(version), f"requirements.lock has {name}=={version}: run .ci/lock"
        assert marker.replace("'", '"') == str(requirement.marker or "").replace("'", '"'), name


def test_the_image_installs_the_lock_in_a_build_stage_on_a_pinned_base():
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?$", DOCKERFILE, re.M)
    assert len(stages) >= 2, "multi-stage build"
    for image, _ in stages:
        assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+", image), f"{image}: not an exact version tag"
    assert len({image for image, _ in stages}) == 1  # the virtualenv runs on the interpreter it was built by
    build, runtime = DOCKERFILE.split("\nFROM ")[1], DOCKERFILE.split("\nFROM ")[-1]
    assert "requirements.lock" in build and re.search(r"^RUN \.ci/install /opt/venv$", build, re.M)
    assert re.search(r"^COPY --from=build /opt/venv /opt/venv$", runtime, re.M)
    assert "pip" not in runtime and "COPY service" not in runtime  # nothing is built or fetched at run time
    install = (ROOT / ".ci/install").read_text()
    assert "--require-hashes --only-binary :all: -r requirements.lock" in install
    assert "--no-deps --no-build-isolation --no-index ." in install


def test_a_dependency_without_a_floor_is_refused(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["orjson>=3.9", "lxml"]\n')
    try:
        floors.floors(pyproject)
    except ValueError as exc:
        assert str(exc) == "lxml: no floor (>=X) declared in pyproject.toml"
    else:
        raise AssertionError("a dependency without a floor was accepted")
