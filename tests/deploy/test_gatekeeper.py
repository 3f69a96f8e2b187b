"""deploy/gatekeeper evaluated by a real Rego engine (regorus, Gatekeeper's v0 Rego): every
suite case as gatekeeper-library's `gator verify` reads it, and the rendered edge overlay."""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import regorus
import yaml

from tests.deploy.conftest import DEPLOY, require

GATEKEEPER = DEPLOY / "gatekeeper"
POLICIES = sorted(path.parent for path in GATEKEEPER.glob("*/template.yaml"))


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@cache
def engine_for(template_path: Path) -> tuple[regorus.Engine, str]:
    template = load(template_path)
    target = template["spec"]["targets"][0]
    engine = regorus.Engine()
    engine.set_rego_v0(True)  # Gatekeeper 3.15 evaluates Rego v0
    engine.add_policy(template_path.name, target["rego"])
    for number, lib in enumerate(target.get("libs", [])):
        engine.add_policy(f"lib{number}.rego", lib)
    package = re.search(r"^package\s+(\S+)", target["rego"], re.MULTILINE)
    assert package is not None
    return engine, package.group(1)


def violations(template_path: Path, constraint: dict[str, Any], obj: dict[str, Any]) -> list[Any]:
    engine, package = engine_for(template_path)
    group, _, version = obj["apiVersion"].rpartition("/")
    review = {
        "object": obj,
        "kind": {"group": group, "version": version, "kind": obj["kind"]},
        "name": obj["metadata"]["name"],
        "namespace": obj["metadata"].get("namespace", ""),
        "operation": "CREATE",
    }
    parameters = constraint["spec"].get("parameters", {})
    engine.set_input_json(json.dumps({"review": review, "parameters": parameters}))
    result = json.loads(engine.eval_rule_as_json(f"data.{package}.violation"))
    assert isinstance(result, list), f"violation must be a set, got {result!r}"
    assert all(isinstance(item.get("msg"), str) and item["msg"] for item in result)
    return result


def matches(constraint: dict[str, Any], obj: dict[str, Any]) -> bool:
    """Gatekeeper's match on kinds and namespaces (the fields these constraints use)."""
    match = constraint["spec"].get("match", {})
    group = obj["apiVersion"].rpartition("/")[0]
    kinds = match.get("kinds")
    if kinds and not any(
        group in entry.get("apiGroups", ["*"]) and obj["kind"] in entry.get("kinds", [])
        for entry in kinds
    ):
        return False
    namespaces = match.get("namespaces")
    namespace = obj["metadata"].get("namespace") or (
        obj["metadata"]["name"] if obj["kind"] == "Namespace" else None
    )
    return not namespaces or namespace in namespaces


def suite_cases() -> list[Any]:
    cases = []
    for policy in POLICIES:
        for test in load(policy / "suite.yaml")["tests"]:
            for case in test["cases"]:
                cases.append(
                    pytest.param(
                        policy / test["template"],
                        policy / test["constraint"],
                        policy / case["object"],
                        case["assertions"],
                        id=f"{policy.name}/{case['name']}",
                    )
                )
    return cases


def test_seven_policies_each_with_allowed_and_disallowed_samples() -> None:
    assert len(POLICIES) == 7
    for policy in POLICIES:
        samples = {path.name for path in policy.glob("samples/*/*.yaml")}
        assert {"constraint.yaml", "example_allowed.yaml", "example_disallowed.yaml"} <= samples
        template = load(policy / "template.yaml")
        kind = template["spec"]["crd"]["spec"]["names"]["kind"]
        assert template["metadata"]["name"] == kind.lower()  # Gatekeeper requires it
        for constraint in policy.glob("samples/*/constraint.yaml"):
            assert load(constraint)["kind"] == kind


@pytest.mark.parametrize(("template", "constraint", "obj", "assertions"), suite_cases())
def test_suite_case(template: Path, constraint: Path, obj: Path, assertions: list[Any]) -> None:
    found = violations(template, load(constraint), load(obj))
    for assertion in assertions:
        # YAML 1.1 reads the suites' yes/no as booleans.
        expected = {True: "yes", False: "no"}.get(assertion["violations"], assertion["violations"])
        if expected == "yes":
            assert found, f"{obj.name} should violate"
        elif expected == "no":
            assert found == [], f"{obj.name} should pass"
        else:
            assert len(found) == int(expected), found


@pytest.fixture(scope="module")
def edge_overlay() -> list[dict[str, Any]]:
    kubectl = require("kubectl", "kubectl")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "k8s/overlays/edge")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


@pytest.mark.parametrize("policy", POLICIES, ids=[policy.name for policy in POLICIES])
def test_edge_overlay_passes(policy: Path, edge_overlay: list[dict[str, Any]]) -> None:
    constraint = load(policy / "samples/edgerec/constraint.yaml")
    checked = [obj for obj in edge_overlay if matches(constraint, obj)]
    kinds = {obj["kind"] for obj in checked}
    # Not vacuous: every policy sees both workloads of the overlay.
    assert {"Deployment", "DaemonSet"} <= kinds
    for obj in checked:
        assert violations(policy / "template.yaml", constraint, obj) == [], obj["metadata"]["name"]
