"""The monitoring files in deploy/: promtool accepts the alert rules and their unit tests, and every series
the rules and the Grafana dashboard query is one the service exposes (with the labels they match on)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from service import metrics
from service.app import create_app
from service.config import Settings

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "carrier-events.json"
# Series Prometheus adds to every target itself, and the labels it attaches to every scraped series.
SCRAPE_SERIES = {"up": set()}
TARGET_LABELS = {"job", "instance"}
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
            "summary": ("", "_count", "_sum", "_created"), "gauge": ("",), "info": ("_info",), "unknown": ("",)}
CLAUSE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
            "offset", "inf", "nan"}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is not installed and CI=true (Debian: apt-get install prometheus; .ci/run does)")
        pytest.skip("promtool is not installed (Debian package `prometheus`); CI installs it")
    return found


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60)


def test_promtool_accepts_the_alert_rules():
    result = run_promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_each_alert_fires_on_its_situation_and_not_on_its_neighbours():
    result = run_promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {t["alertname"] for case in yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
              for t in case.get("alert_rule_test", ())}
    assert tested == {r["alert"] for r in rules()}  # no alert without a test


def test_the_example_prometheus_configuration_is_valid_and_loads_the_rules():
    result = run_promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = {c["job_name"] for c in yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"]}
    used = {j for r in rules() for j in re.findall(r'job="([^"]+)"', r["expr"])}
    assert used and used <= jobs  # the rules name jobs this configuration defines


def rules() -> list[dict]:
    return [r for g in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"] for r in g["rules"]]


def dashboard_queries() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in dash["panels"] for t in p.get("targets", ())]
    for variable in dash["templating"]["list"]:  # Grafana's label_values(selector, label), as PromQL
        if variable["type"] == "query":
            selector, label = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["query"]["query"]).groups()
            queries.append(f"count by ({label}) ({selector})")
    return queries


async def exposition(tmp_path: Path) -> str:
    """The real `/metrics` of a serve process (a worker exposes the same registry)."""
    async with TestClient(TestServer(create_app(Settings(db=str(tmp_path / "events.db"))))) as client:
        resp = await client.get("/metrics")
        assert resp.status == 200
        return await resp.text()


def exposed_series(text: str) -> dict[str, set[str]]:
    """Every sample name the exposition can carry -> its label names (families without samples yet included)."""
    series: dict[str, set[str]] = dict(SCRAPE_SERIES)
    for family in text_string_to_metric_families(text):
        for suffix in SUFFIXES[family.type]:
            series.setdefault(family.name + suffix, set())
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    for obj in vars(metrics).values():  # label names of families that have no sample yet
        if isinstance(obj, MetricWrapperBase):
            for suffix in SUFFIXES[obj._type]:
                series[obj._name + suffix] |= set(obj._labelnames) | ({"le"} if suffix == "_bucket" else set())
    return series


def names_in(expr: str) -> tuple[dict[str, set[str]], set[str]]:
    """PromQL -> ({metric name: label names it is matched on}, label names in by/without/on clauses)."""
    selectors: dict[str, set[str]] = {}
    for name, matchers in re.findall(r"([A-Za-z_:][\w:]*)\s*\{([^}]*)\}", expr):
        labels = set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", re.sub(r'"(?:[^"\\]|\\.)*"', '""', matchers)))
        selectors.setdefault(name, set()).update(labels)
    clauses = {label.strip() for _, labels in CLAUSE.findall(expr) for label in labels.split(",") if label.strip()}
    rest = re.sub(r'"(?:[^"\\]|\\.)*"', " ", expr)
    rest = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\$\w+", " ", rest)
    rest = CLAUSE.sub(" ", rest)
    rest = re.sub(r"[A-Za-z_]\w*\s*\(", "(", rest)  # function names
    for token in re.findall(r"(?<![\w.])[A-Za-z_:][\w:]*", rest):
        if token.lower() not in KEYWORDS:
            selectors.setdefault(token, set())
    return selectors, clauses


@pytest.mark.parametrize("source", ["alerts.yml", "carrier-events.json"])
async def test_every_queried_series_and_label_is_exposed(source, tmp_path):
    series = exposed_series(await exposition(tmp_path))
    queries = [r["expr"] for r in rules()] if source == "alerts.yml" else dashboard_queries()
    assert queries
    problems = []
    for query in queries:
        used, clause_labels = names_in(query)
        assert used, f"no metric in {query!r}"
        for name, labels in used.items():
            if name not in series:
                problems.append(f"{name} is not exposed (in {query!r})")
            elif labels - series[name] - TARGET_LABELS:
                problems.append(f"{name} has no label {sorted(labels - series[name] - TARGET_LABELS)} (in {query!r})")
        known = TARGET_LABELS.union(*(series.get(name, set()) for name in used))
        if clause_labels - known:
            problems.append(f"grouping by unknown label {sorted(clause_labels - known)} in {query!r}")
    assert problems == []


def test_the_query_parser_catches_what_the_previous_test_relies_on():
    used, clauses = names_in('sum by (queue) (rate(carrier_events_backlog{queue=~"a|b", job="$job"}[5m])) > 0 '
                             'and on (queue) carier_events_typo offset 5m')
    assert used == {"carrier_events_backlog": {"queue", "job"}, "carier_events_typo": set()}
    assert clauses == {"queue"}


def test_the_dashboard_is_well_formed():
    dash = json.loads(DASHBOARD.read_text())
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dash["panels"]}) == len(dash["panels"])
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"]), panel["title"]
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in ("backlog", "dlq", "escalations", "lag", "circuit breakers", "cpu", "memory", "gc"):
        assert topic in titles, topic
