"""Logs: the Log Analytics workspace (retention per stack), Container insights, control-plane diagnostics, the
environment rules, and both branches of every optional child."""

from __future__ import annotations

from typing import Any

import pytest

from components.observability.logs import container_insights_rule_name
from components.observability.spec import CONTAINER_INSIGHTS_STREAMS
from tests.helpers import changed, config_errors
from tests.test_observability import BASE, _resources, _run

WORKSPACE = "azure-native:operationalinsights:Workspace"
DCR = "azure-native:monitor:DataCollectionRule"
DCRA = "azure-native:monitor:DataCollectionRuleAssociation"
DIAGNOSTICS = "azure-native:monitor:DiagnosticSetting"
CLUSTER = "azure-native:containerservice:ManagedCluster"
SECRETS = {"pagerUrl": "https://example.invalid/hook"}


def _ci_rules(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in _resources(document, DCR) if "extensions" in r["inputs"]["dataSources"]]


@pytest.mark.parametrize(("stack", "days"), [("staging", 30), ("prod", 90)])
def test_retention_comes_from_the_stack_file(plan_documents: dict[str, dict[str, Any]], stack: str, days: int) -> None:
    (workspace,) = _resources(plan_documents[stack], WORKSPACE)
    inputs = workspace["inputs"]
    assert inputs["retentionInDays"] == days
    assert inputs["sku"] == {"name": "PerGB2018"}
    # Entra ID only: no shared keys; readers need Azure RBAC on the workspace or on the cluster's resources.
    assert inputs["features"] == {"disableLocalAuth": True, "enableLogAccessUsingOnlyResourcePermissions": True}


def test_every_cluster_sends_container_logs_and_control_plane_logs(plan_documents: dict[str, dict[str, Any]]) -> None:
    for stack in ("staging", "prod"):
        document = plan_documents[stack]
        (workspace,) = _resources(document, WORKSPACE)
        clusters = _resources(document, CLUSTER)
        rules = {r["name"]: r for r in _ci_rules(document)}
        for cluster in clusters:
            key = cluster["name"].removesuffix("-aks")
            oms = cluster["inputs"]["addonProfiles"]["omsagent"]
            assert oms["enabled"] is True
            assert oms["config"]["useAADAuth"] == "true"
            assert workspace["urn"] in cluster["dependencies"], "the add-on names the workspace"
            rule = rules[f"monitoring-{key}-ci-dcr"]
            inputs = rule["inputs"]
            assert inputs["dataCollectionRuleName"] == container_insights_rule_name(
                "westeurope", cluster["inputs"]["resourceName"]
            )
            (extension,) = inputs["dataSources"]["extensions"]
            assert extension["extensionName"] == "ContainerInsights"
            assert extension["extensionSettings"]["dataCollectionSettings"]["enableContainerLogV2"] is True
            assert "Microsoft-ContainerLogV2" in extension["streams"]
            assert "Microsoft-ContainerLog" not in extension["streams"]
            assert inputs["dataFlows"] == [
                {"streams": list(CONTAINER_INSIGHTS_STREAMS), "destinations": ["ciworkspace"]}
            ]
            (association,) = [a for a in _resources(document, DCRA) if a["name"] == f"monitoring-{key}-ci-dcra"]
            assert association["inputs"]["associationName"] == "ContainerInsightsExtension"
            assert cluster["urn"] in association["dependencies"]
            assert rule["urn"] in association["dependencies"]
            (diagnostics,) = [d for d in _resources(document, DIAGNOSTICS) if cluster["urn"] in d["dependencies"]]
            assert diagnostics["inputs"]["logAnalyticsDestinationType"] == "Dedicated"
            categories = {entry["category"] for entry in diagnostics["inputs"]["logs"] if entry["enabled"]}
            assert {"kube-audit-admin", "guard", "kube-controller-manager"} <= categories
            assert workspace["urn"] in diagnostics["dependencies"]


def test_defender_needs_workspace_keys_so_it_is_opt_in(plan_documents: dict[str, dict[str, Any]]) -> None:
    for stack in ("staging", "prod"):
        for cluster in _resources(plan_documents[stack], CLUSTER):
            assert "defender" not in cluster["inputs"]["securityProfile"], stack
    document = _run(changed(BASE, "monitoring.logs", {"enabled": True, "defender": True}), SECRETS)
    (workspace,) = _resources(document, WORKSPACE)
    assert workspace["inputs"]["features"]["disableLocalAuth"] is False
    for cluster in _resources(document, CLUSTER):
        assert cluster["inputs"]["securityProfile"]["defender"]["securityMonitoring"] == {"enabled": True}
        assert workspace["urn"] in cluster["dependencies"]


def test_dev_has_no_logs(plan_documents: dict[str, dict[str, Any]]) -> None:
    document = plan_documents["dev"]
    assert _resources(document, WORKSPACE) == []
    assert _resources(document, DIAGNOSTICS) == []
    assert _ci_rules(document) == []
    for cluster in _resources(document, CLUSTER):
        assert "omsagent" not in cluster["inputs"]["addonProfiles"]


def test_control_plane_only_without_container_logs() -> None:
    document = _run(changed(BASE, "monitoring.logs", {"enabled": True, "containerLogs": False}), SECRETS)
    assert _ci_rules(document) == []
    assert len(_resources(document, DIAGNOSTICS)) == 2
    for cluster in _resources(document, CLUSTER):
        assert "omsagent" not in cluster["inputs"]["addonProfiles"]


def test_unmonitored_cluster_gets_no_logs() -> None:
    values = changed({**BASE, "environment": "dev"}, "clusters.neu1.features", {"monitoring": False})
    document = _run(values, SECRETS)
    targets = {d["name"] for d in _resources(document, DIAGNOSTICS)}
    assert targets == {"monitoring-weu1-diagnostics"}
    clusters = {c["name"]: c for c in _resources(document, CLUSTER)}
    assert "omsagent" not in clusters["neu1-aks"]["inputs"]["addonProfiles"]
    assert "omsagent" in clusters["weu1-aks"]["inputs"]["addonProfiles"]


@pytest.mark.parametrize(
    ("path", "value", "key", "words"),
    [
        ("monitoring.logs", {"enabled": False}, "monitoring.logs.enabled", "required in prod"),
        (
            "monitoring.logs",
            {"enabled": True, "controlPlane": ["guard"]},
            "monitoring.logs.controlPlane",
            "kube-audit-admin",
        ),
        ("monitoring.logs", {"enabled": True, "retentionDays": 7}, "monitoring.logs.retentionDays", ">= 30"),
        (
            "monitoring.logs",
            {"enabled": True, "controlPlane": ["kube-audit"] * 2 + ["kube-audit-admin"]},
            "monitoring.logs.controlPlane",
            "twice",
        ),
        (
            "monitoring.logs",
            {"enabled": True, "controlPlane": ["kube-audit-admin", "etcd"]},
            "monitoring.logs.controlPlane.1",
            "allowed value",
        ),
    ],
)
def test_bad_logs_config(path: str, value: Any, key: str, words: str) -> None:
    lines = config_errors(changed(BASE, path, value))
    assert len(lines) == 1, lines
    assert f"ai-platform:{key}:" in lines[0], lines[0]
    assert words in lines[0], lines[0]


def test_dev_may_go_without_logs() -> None:
    lines_free = _run(changed({**BASE, "environment": "dev"}, "monitoring.logs", {"enabled": False}), SECRETS)
    assert _resources(lines_free, WORKSPACE) == []
