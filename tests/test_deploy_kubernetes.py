"""deploy/kubernetes/: valid by the Kubernetes schemas (kubernetes-validate, offline), and consistent with
the service: probes on its endpoints, Secrets and ConfigMap wired in, grace periods longer than the drain."""
from __future__ import annotations

import copy
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.test_deploy_compose import known_variable

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "kubernetes"
VERSIONS = ("1.27.0", kubernetes_validate.latest_version())  # an older supported release and the newest known


def documents() -> list[tuple[str, dict]]:
    return [(path.name, doc) for path in sorted(K8S.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def kinds(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in documents() if doc["kind"] == kind}


def resources() -> list[tuple[str, dict]]:
    return [(name, doc) for name, doc in documents() if doc["kind"] != "Kustomization"]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid_by_the_kubernetes_schemas(version):
    assert {doc["kind"] for _, doc in resources()} >= {"Deployment", "Service", "PodDisruptionBudget", "ConfigMap",
                                                       "Secret"}
    for name, doc in resources():
        kubernetes_validate.validate(doc, version, strict=True)  # raises with the path of the first error
    broken = copy.deepcopy(kinds("Deployment")["carrier-events-serve"])
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}  # a typo the schema must catch
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, version, strict=True)


def test_kustomization_applies_everything_but_the_example_secrets():
    kustomization = next(doc for _, doc in documents() if doc["kind"] == "Kustomization")
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert set(kustomization["resources"]) == files
    assert [i["name"] for i in kustomization["images"]] == ["carrier-events"]


def containers() -> dict[str, dict]:
    return {name: d["spec"]["template"]["spec"]["containers"][0] for name, d in kinds("Deployment").items()}


def port_number(container: dict, port: int | str) -> int:
    return port if isinstance(port, int) else next(p["containerPort"] for p in container["ports"] if p["name"] == port)


def test_serve_and_worker_are_probed_on_the_service_endpoints():
    config = kinds("ConfigMap")["carrier-events-config"]["data"]
    expected_port = {"carrier-events-serve": int(config["CARRIER_EVENTS_PORT"]),
                     "carrier-events-worker": int(config["CARRIER_EVENTS_WORKER_PORT"])}
    commands = {}
    for name, container in containers().items():
        commands[name] = container["command"]
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"), ("startupProbe", "/healthz")):
            get = container[probe]["httpGet"]
            assert get["path"] == path, (name, probe)
            assert port_number(container, get["port"]) == expected_port[name], (name, probe)
        assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"], name
    assert commands == {"carrier-events-serve": ["carrier-events", "serve"],
                        "carrier-events-worker": ["carrier-events", "worker"]}
    assert config["CARRIER_EVENTS_IN_PROCESS_NORMALIZER"] == "false"  # the worker Deployment normalizes


def test_secrets_and_settings_reach_both_deployments():
    secrets = kinds("Secret")
    config = kinds("ConfigMap")
    assert all(known_variable(key) for key in config["carrier-events-config"]["data"])
    for name, container in containers().items():
        sources = {next(iter(s)): s[next(iter(s))]["name"] for s in container["envFrom"]}
        assert sources == {"configMapRef": "carrier-events-config", "secretRef": "carrier-events-secrets"}, name
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
        assert set(refs) == {"CARRIER_EVENTS_DB", "CARRIER_EVENTS_AMQP_URL"}, name
        for ref in refs.values():
            assert ref["key"] in secrets[ref["name"]]["stringData"], (name, ref)
        assert sources["secretRef"] in secrets and sources["configMapRef"] in config
    assert all(known_variable(key) for key in secrets["carrier-events-secrets"]["stringData"])
    assert all(value.startswith("CHANGE-ME") or "CHANGE-ME@" in value
               for s in secrets.values() for value in s["stringData"].values())  # placeholders only


def test_grace_periods_cover_the_drain():
    config = kinds("ConfigMap")["carrier-events-config"]["data"]
    drain, shutdown = float(config["CARRIER_EVENTS_DRAIN_SECONDS"]), float(config["CARRIER_EVENTS_SHUTDOWN_TIMEOUT"])
    deployments = kinds("Deployment")
    serve = deployments["carrier-events-serve"]["spec"]["template"]["spec"]
    pause = serve["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert pause[0] == "sleep"
    assert serve["terminationGracePeriodSeconds"] > float(pause[1]) + drain + shutdown
    worker = deployments["carrier-events-worker"]["spec"]["template"]["spec"]
    assert worker["terminationGracePeriodSeconds"] > shutdown
    assert deployments["carrier-events-serve"]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_services_and_disruption_budgets_select_the_pods():
    pods = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in kinds("Deployment").items()}
    budgets = kinds("PodDisruptionBudget")
    for name, labels in pods.items():
        assert kinds("Deployment")[name]["spec"]["selector"]["matchLabels"] == labels
        matching = [b for b in budgets.values() if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(matching) == 1, f"{name}: {len(matching)} disruption budgets"
        assert matching[0]["spec"]["minAvailable"] < kinds("Deployment")[name]["spec"]["replicas"]  # drains proceed
    for service in kinds("Service").values():
        selected = [n for n, labels in pods.items() if service["spec"]["selector"].items() <= labels.items()]
        assert len(selected) == 1, service["metadata"]["name"]
        container = containers()[selected[0]]
        for port in service["spec"]["ports"]:
            port_number(container, port["targetPort"])  # names a port the container has
