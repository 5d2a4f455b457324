"""The DCGM exporter values against the real chart: its documented keys, and what its templates render.

The chart package is the one NVIDIA publishes (tests/fixtures/dcgm-exporter/README.md: source, version,
digest). It is rendered by Helm's own template engine (``helm-python-sdk``: Helm v4's Go SDK through ctypes,
no cluster, no network), with the values each shipped stack sends in its ``dcgm-exporter`` Release.
"""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from components.observability import DCGM_CHART, DCGM_CHART_VERSION, DCGM_NAMESPACE, DCGM_SERVICE_ACCOUNT
from tests.k8s_schema import validate_strict

FIXTURES = Path(__file__).parent / "fixtures" / "dcgm-exporter"
CHART_VERSION = "4.8.2"
CHART = FIXTURES / f"dcgm-exporter-{CHART_VERSION}.tgz"
VALUES = FIXTURES / f"values-{CHART_VERSION}.yaml"
RELEASE = "kubernetes:helm.sh/v3:Release"


def _chart_values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(VALUES.read_text())
    return loaded


def _sent_values(plan_documents: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per stack, the values of every dcgm-exporter Release the plan registers."""
    found: dict[str, list[dict[str, Any]]] = {}
    for stack, document in plan_documents.items():
        for r in document["resources"]:
            if r["type"] == RELEASE and r["inputs"].get("chart") == DCGM_CHART:
                found.setdefault(stack, []).append(r["inputs"]["values"])
    return found


def _unknown_keys(sent: Any, chart: Any, path: str = "") -> list[str]:
    """Keys of ``sent`` the chart's values.yaml does not document.

    Descends while the chart's default is a non-empty mapping; an empty mapping (``nodeSelector: {}``,
    ``podLabels: {}``) or a list is free-form user data.
    """
    if not isinstance(sent, dict) or not isinstance(chart, dict) or not chart:
        return []
    unknown = []
    for key, value in sent.items():
        dotted = f"{path}{key}"
        if key not in chart:
            unknown.append(dotted)
        else:
            unknown.extend(_unknown_keys(value, chart[key], f"{dotted}."))
    return unknown


def _render(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The chart rendered as Helm renders it for release ``dcgm-exporter`` in the exporter's namespace."""
    with helm_python.Chart.load(str(CHART)) as chart:
        manifests = chart.render(values, name=DCGM_CHART, namespace=DCGM_NAMESPACE)
    objects: dict[str, dict[str, Any]] = {}
    for template, text in manifests.items():
        if not template.endswith(".yaml"):  # NOTES.txt
            continue
        for obj in yaml.safe_load_all(text):
            if obj:
                objects[obj["kind"]] = obj
    return objects


def test_fixture_is_the_published_chart_of_the_pinned_minor() -> None:
    with tarfile.open(CHART) as tar:
        member = tar.extractfile("dcgm-exporter/values.yaml")
        assert member is not None
        assert member.read().decode() == VALUES.read_text()
        chart_file = tar.extractfile("dcgm-exporter/Chart.yaml")
        assert chart_file is not None
        assert yaml.safe_load(chart_file.read())["version"] == CHART_VERSION
    # Bumping the pin to another minor needs the new chart here (README in the fixture folder).
    assert DCGM_CHART_VERSION.split(".")[:2] == CHART_VERSION.split(".")[:2]


def test_every_value_the_blueprint_sets_is_a_documented_chart_key(
    plan_documents: dict[str, dict[str, Any]],
) -> None:
    sent = _sent_values(plan_documents)
    assert set(sent) == set(plan_documents), "every shipped stack installs the exporter"
    chart = _chart_values()
    for stack, releases in sent.items():
        for values in releases:
            assert _unknown_keys(values, chart) == [], stack


def test_unknown_key_detection_is_not_vacuous() -> None:
    chart = _chart_values()
    assert _unknown_keys({"kubernetesDra": {"enabled": True}, "serviceMonitor": {"intervall": "1m"}}, chart) == [
        "kubernetesDra",
        "serviceMonitor.intervall",
    ]
    assert _unknown_keys({"nodeSelector": {"any/label": "x"}}, chart) == []


def test_dra_attribution_renders_token_env_and_rbac(plan_documents: dict[str, dict[str, Any]]) -> None:
    for stack, releases in _sent_values(plan_documents).items():
        for values in releases:
            objects = _render(values)
            account = objects["ServiceAccount"]
            assert account["metadata"]["name"] == DCGM_SERVICE_ACCOUNT
            # The exporter logs in to the API server with its service-account token.
            assert account["automountServiceAccountToken"] is True, stack
            pod = objects["DaemonSet"]["spec"]["template"]["spec"]
            assert pod["serviceAccountName"] == DCGM_SERVICE_ACCOUNT
            assert pod["automountServiceAccountToken"] is True, stack
            (container,) = pod["containers"]
            dra_env = [e for e in container["env"] if e["name"] == "KUBERNETES_ENABLE_DRA"]
            assert dra_env == [{"name": "KUBERNETES_ENABLE_DRA", "value": "true"}], stack
            # It watches the pods and the ResourceSlices it maps GPU allocations from.
            role = objects["ClusterRole"]
            granted = {
                (group, resource, verb)
                for rule in role["rules"]
                for group in rule["apiGroups"]
                for resource in rule["resources"]
                for verb in rule["verbs"]
            }
            for verb in ("get", "list", "watch"):
                assert ("", "pods", verb) in granted, stack
                assert ("resource.k8s.io", "resourceslices", verb) in granted, stack
            binding = objects["ClusterRoleBinding"]
            assert binding["roleRef"] == {
                "kind": "ClusterRole",
                "name": role["metadata"]["name"],
                "apiGroup": "rbac.authorization.k8s.io",
            }
            assert binding["subjects"] == [
                {"kind": "ServiceAccount", "name": DCGM_SERVICE_ACCOUNT, "namespace": DCGM_NAMESPACE}
            ]
            assert objects["ServiceMonitor"]["apiVersion"] == "azmonitoring.coreos.com/v1"
            for kind in ("ServiceAccount", "DaemonSet", "ClusterRole", "ClusterRoleBinding"):
                validate_strict(objects[kind], "1.34")


@pytest.mark.parametrize(
    ("values", "token"),
    [
        # What the blueprint sent before: the env var alone leaves the token unmounted and no pod/slice RBAC.
        ({"extraEnv": [{"name": "KUBERNETES_ENABLE_DRA", "value": "true"}]}, False),
        ({"kubernetesDRA": {"enabled": True}}, True),
    ],
)
def test_only_the_chart_switch_mounts_the_token(values: dict[str, Any], token: bool) -> None:
    objects = _render({"serviceAccount": {"create": True, "name": DCGM_SERVICE_ACCOUNT}, **values})
    assert objects["ServiceAccount"]["automountServiceAccountToken"] is token
    assert objects["DaemonSet"]["spec"]["template"]["spec"]["automountServiceAccountToken"] is token
    assert ("ClusterRole" in objects) is token
