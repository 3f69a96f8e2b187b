"""deploy/k8s rendered by kustomize and validated offline against the Kubernetes 1.30 schemas,
then checked for what the users asked of the pods."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from edgerec.serve._settings import load_settings
from tests.deploy.conftest import DEPLOY, require

KUSTOMIZATIONS = ["k8s/base", "k8s/overlays/edge"]


def render(path: str) -> str:
    kubectl = require("kubectl", "kubectl")
    result = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def edge() -> dict[tuple[str, str], dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all(render("k8s/overlays/edge")) if doc]
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_renders_and_validates_against_kubernetes_1_30_strict(path: str, tmp_path: Path) -> None:
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(render(path))
    validate = Path(sys.executable).with_name("kubernetes-validate")
    result = subprocess.run(
        [str(validate), "--kubernetes-version", "1.30.0", "--strict", str(manifest)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout and "did not validate" not in result.stdout


def one(edge: dict[tuple[str, str], dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [doc for (k, _), doc in edge.items() if k == kind]
    assert len(found) == 1, f"expected one {kind}"
    return found[0]


def test_server_pods_are_as_the_users_asked(edge: dict[tuple[str, str], dict[str, Any]]) -> None:
    deployment = edge[("Deployment", "edgerec")]
    pod = deployment["spec"]["template"]
    spec = pod["spec"]
    server = spec["containers"][0]
    assert server["resources"] == {
        "requests": {"cpu": "200m", "memory": "512Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert server["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert spec["securityContext"]["runAsNonRoot"] is True
    for container in spec["containers"] + spec["initContainers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert "@sha256:" in container["image"]
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == server["ports"][0]["containerPort"]
    # The artifact is checked against the pinned digest before the server starts.
    init = spec["initContainers"][0]
    assert "--expect-digest" in " ".join(init["command"])


def test_settings_in_the_configmap_are_valid(edge: dict[tuple[str, str], dict[str, Any]]) -> None:
    config = one(edge, "ConfigMap")["data"]
    settings = load_settings(environ=config)
    assert settings.redis_url and settings.workers == 1 and settings.host == "0.0.0.0"
    assert settings.artifact_digest and len(settings.artifact_digest) == 64
    deployment = edge[("Deployment", "edgerec")]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [
        {"configMapRef": {"name": one(edge, "ConfigMap")["metadata"]["name"]}}
    ]


def test_selectors_find_the_pods(edge: dict[tuple[str, str], dict[str, Any]]) -> None:
    pod_labels = edge[("Deployment", "edgerec")]["spec"]["template"]["metadata"]["labels"]
    redis_labels = edge[("DaemonSet", "edgerec-redis")]["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
        return selector.items() <= labels.items()

    assert selects(edge[("Service", "edgerec")]["spec"]["selector"], pod_labels)
    assert selects(edge[("Service", "edgerec-metrics")]["spec"]["selector"], pod_labels)
    assert selects(edge[("Service", "edgerec-redis")]["spec"]["selector"], redis_labels)
    pdb = edge[("PodDisruptionBudget", "edgerec")]
    assert selects(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    hpa = edge[("HorizontalPodAutoscaler", "edgerec")]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "edgerec",
    }
    # The per-node cache is reached on the pod's own node.
    assert edge[("Service", "edgerec-redis")]["spec"]["internalTrafficPolicy"] == "Local"
    assert edge[("Service", "edgerec-metrics")]["spec"]["clusterIP"] == "None"


def test_prometheus_finds_the_pods_through_the_headless_service(
    edge: dict[tuple[str, str], dict[str, Any]],
) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    job = next(job for job in config["scrape_configs"] if job["job_name"] == "edgerec")
    discovery = job["dns_sd_configs"][0]
    service = edge[("Service", "edgerec-metrics")]
    namespace = service["metadata"]["namespace"]
    assert discovery["names"] == [f"edgerec-metrics.{namespace}.svc.cluster.local"]
    assert discovery["port"] == service["spec"]["ports"][0]["port"]
    assert service["spec"]["publishNotReadyAddresses"] is True
