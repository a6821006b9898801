"""README and `--help` say what the software does: the taxonomy lists are generated from the taxonomy,
the configuration table lists every variable the service reads, help texts name only files that exist,
and the CLI offers only what it does (`--version`, `schema` into the current directory, one worker role)."""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from service.cli import build_parser
from service.config import POLL_CARRIERS, SOURCES, known_variables
from tests import readme_taxonomy

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})


def test_readme_taxonomy_section_is_generated_from_the_taxonomy():
    assert readme_taxonomy.render(README) == README, "README.md is stale: python -m tests.readme_taxonomy --write"
    section = README[README.index(readme_taxonomy.BEGIN):README.index(readme_taxonomy.END)]
    assert "`available_for_pickup`" in section and "`customs_hold`" in section and "| `dhl_parcel_de` |" in section


def test_the_readme_taxonomy_check_fails_when_stale():
    stale = README.replace("`customs_hold`, ", "", 1)
    assert readme_taxonomy.render(stale) != stale
    with pytest.raises(ValueError):
        readme_taxonomy.render("no markers")


def _table() -> dict[str, bool]:
    """Configuration table: variable (templated) -> marked (file)."""
    section = README[README.index("## Configuration"):]
    section = section[:section.index("\n## ")]
    return {m.group(1): bool(m.group(2)) for m in re.finditer(r"^\| `(CARRIER_EVENTS_[A-Z0-9_<>]+)`( \(file\))? \|",
                                                                section, re.M)}


def test_the_configuration_table_lists_every_variable_and_every_secret_file():
    expanded = {}
    for name, from_file in _table().items():
        if "<SOURCE>" in name:
            expanded.update({name.replace("<SOURCE>", s.upper()): from_file for s in SOURCES})
        elif "<CARRIER>" in name:
            expanded.update({name.replace("<CARRIER>", c.upper()): from_file for c in POLL_CARRIERS})
        else:
            expanded[name] = from_file
    assert expanded == known_variables()


def _help_texts() -> list[str]:
    parser = build_parser()
    texts = [parser.format_help()]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            texts += [sub.format_help() for sub in action.choices.values()]
    return texts


def test_help_texts_and_readme_name_only_files_in_the_repository():
    assert "DESIGN" not in README and not any("DESIGN" in text for text in _help_texts())
    for text in _help_texts():
        for path in re.findall(r"\b[\w.-]+(?:/[\w.-]+)*\.(?:md|toml|py|json)\b|\bservice/[\w/]+", text):
            assert (ROOT / path).exists(), f"--help names {path}, which is not in the repository"


def test_version():
    run = cli("--version")
    assert run.returncode == 0 and run.stdout == f"carrier-events {version('carrier-events')}\n"


def test_worker_offers_only_the_role_it_has():
    assert "actions" not in build_parser().parse_args(["worker"]).role
    run = cli("worker", "--role", "actions")
    assert run.returncode == 2 and "invalid choice: 'actions'" in run.stderr


def test_schema_writes_into_the_current_directory_by_default(tmp_path):
    run = cli("schema", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "openapi.json").exists() and (tmp_path / "normalized-event.v1.schema.json").exists()
    assert run.stdout and all((tmp_path / line).parent.resolve() == tmp_path.resolve() for line in run.stdout.splitlines())
