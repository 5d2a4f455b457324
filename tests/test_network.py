"""Team network isolation: the namespace NetworkPolicy, the models' L7 CiliumNetworkPolicy, both branches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.cluster import ClusterSpec
from components.dra import http_policies, network_policy
from components.facts import DEFAULT_NETWORK_POLICY
from components.serving.workload import API_RULES
from components.teams import TeamSpec
from components.weight_cache import CACHE_NAMESPACE
from stacks.plan import ROOT, run_plan
from stacks.summary import render_summary
from tests.k8s_schema import k8s_objects, validate_strict

NAMESPACE_NAME = "kubernetes.io/metadata.name"
COLLECTOR_PEER = {
    "namespaceSelector": {"matchLabels": {NAMESPACE_NAME: "kube-system"}},
    "podSelector": {"matchLabels": {"rsName": "ama-metrics"}},
}


def _resources(document: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in document["resources"] if r["custom"] and r["inputs"].get("kind") == kind]


def _policies(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Default NetworkPolicies by namespace (single-cluster stacks)."""
    return {o["metadata"]["namespace"]: o for o in k8s_objects(document, "NetworkPolicy")}


def _edited_dev(tmp_path: Path, name: str, edit: dict[str, Any]) -> dict[str, Any]:
    """The dev stack with ``edit`` merged into ``ai-platform:<key>`` values (one level deep per key)."""
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    config = document["config"]
    for key, change in edit.items():
        config[f"ai-platform:{key}"] = change(config[f"ai-platform:{key}"])
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    plan = run_plan(name, path)
    return {"document": plan.to_json(), "summary": render_summary(plan)}


def _teams(**changes: dict[str, Any]) -> Any:
    return lambda teams: {team: {**spec, **changes.get(team, {})} for team, spec in teams.items()}


def _networking(**values: Any) -> Any:
    return lambda clusters: {
        key: {**cluster, "advancedNetworking": {**cluster.get("advancedNetworking", {}), **values}}
        for key, cluster in clusters.items()
    }


@pytest.fixture(scope="module")
def relaxed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """FQDN-only cluster; apps opts out of isolation, research admits apps and an ingress controller."""
    teams = _teams(apps={"networkIsolation": False}, research={"allowIngressFrom": ["app-routing-system", "apps"]})
    return _edited_dev(
        tmp_path_factory.mktemp("net"), "netfqdn", {"teams": teams, "clusters": _networking(policies="FQDN")}
    )


@pytest.fixture(scope="module")
def l7_allowed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """L7 cluster (the default) where research admits apps."""
    return _edited_dev(
        tmp_path_factory.mktemp("net"), "netl7", {"teams": _teams(research={"allowIngressFrom": ["apps"]})}
    )


# ----------------------------------------------------------------------------------------------------------------
# The NetworkPolicy (pure)


def test_default_policy_admits_only_its_namespace_and_the_metrics_collector() -> None:
    policy = network_policy("research", TeamSpec())
    validate_strict(policy, "1.34")
    assert policy["metadata"] == {
        "name": DEFAULT_NETWORK_POLICY,
        "namespace": "research",
        "labels": {"ai-platform/team": "research"},
    }
    spec = policy["spec"]
    assert spec["podSelector"] == {}
    assert spec["policyTypes"] == ["Ingress"]  # egress stays open: model weights come from Hugging Face
    assert "egress" not in spec
    assert spec["ingress"] == [{"from": [{"podSelector": {}}, COLLECTOR_PEER]}]


def test_allow_ingress_from_names_namespaces_and_l7_clusters_leave_out_model_servers() -> None:
    spec = TeamSpec(allow_ingress_from=["ingress-nginx", "apps", "research"])
    policy = network_policy("research", spec, exclude_model_servers=True)
    validate_strict(policy, "1.34")
    assert policy["spec"]["ingress"][0]["from"] == [
        {"podSelector": {}},
        {
            "namespaceSelector": {
                "matchExpressions": [{"key": NAMESPACE_NAME, "operator": "In", "values": ["apps", "ingress-nginx"]}]
            }
        },
        COLLECTOR_PEER,
    ]
    assert policy["spec"]["podSelector"] == {
        "matchExpressions": [{"key": "ai-platform/model", "operator": "DoesNotExist"}]
    }


@pytest.mark.parametrize(
    ("networking", "l7"),
    [
        ({}, True),
        ({"policies": "FQDN"}, False),
        ({"security": False}, False),
        ({"security": False, "policies": "L7"}, False),
    ],
)
def test_l7_policies_only_with_acns_security_and_l7(networking: dict[str, Any], l7: bool) -> None:
    cluster = ClusterSpec.model_validate(
        {"location": "westeurope", "kubernetesVersion": "1.34", "advancedNetworking": networking}
    )
    assert http_policies(cluster) is l7


# ----------------------------------------------------------------------------------------------------------------
# Shipped stacks: L7 clusters


def test_every_team_namespace_of_every_stack_has_its_policy(
    plans: dict[str, Any], plan_documents: dict[str, dict[str, Any]]
) -> None:
    for stack, document in plan_documents.items():
        namespaces = {
            (r["provider"], r["inputs"]["metadata"]["name"])
            for r in _resources(document, "Namespace")
            if "ai-platform/team" in r["inputs"]["metadata"].get("labels", {})
        }
        # The weight cache's own namespace has a deny-all-ingress policy (tests/test_weight_cache.py).
        policies = {
            (r["provider"], r["inputs"]["metadata"]["namespace"])
            for r in _resources(document, "NetworkPolicy")
            if r["inputs"]["metadata"]["namespace"] != CACHE_NAMESPACE
        }
        assert namespaces, stack
        assert namespaces == policies, stack
        versions = {c.kubernetes_version for c in plans[stack].config.clusters.values()}
        for obj in k8s_objects(document, "NetworkPolicy"):
            if obj["metadata"]["namespace"] == CACHE_NAMESPACE or obj["metadata"]["name"].endswith("-kuberay-operator"):
                continue  # the weight cache's own policy; the KubeRay operator's way in (tests/test_runtimes.py)
            assert obj["metadata"]["name"] == DEFAULT_NETWORK_POLICY
            for version in versions:
                validate_strict(obj, version)
        assert not [v for v in document["policyViolations"] if v["policy"] == "team-network-isolation"], stack


def test_every_model_on_an_l7_cluster_gets_its_http_policy(plan_documents: dict[str, dict[str, Any]]) -> None:
    for stack, document in plan_documents.items():
        deployments = {
            (o["metadata"]["namespace"], o["metadata"]["name"])
            for o in k8s_objects(document, "Deployment")
            if o["metadata"]["labels"].get("app.kubernetes.io/name") == "vllm"
        }
        cnps = {
            (o["metadata"]["namespace"], o["metadata"]["name"])
            for o in k8s_objects(document, "CiliumNetworkPolicy")
            if not o["metadata"]["name"].startswith("egress-")  # the teams' FQDN egress policies (test_egress.py)
        }
        assert deployments, stack
        assert cnps == deployments, stack


def test_http_policy_admits_only_the_api_from_the_team_namespace(plan_documents: dict[str, dict[str, Any]]) -> None:
    document = plan_documents["dev"]
    [cnp] = [o for o in k8s_objects(document, "CiliumNetworkPolicy") if o["metadata"]["name"] == "assistant"]
    assert (cnp["apiVersion"], cnp["kind"], cnp["metadata"]["namespace"]) == (
        "cilium.io/v2",
        "CiliumNetworkPolicy",
        "apps",
    )
    dep = next(o for o in k8s_objects(document, "Deployment") if o["metadata"]["name"] == "assistant")
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    selector = cnp["spec"]["endpointSelector"]["matchLabels"]
    assert selector == dep["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    api, metrics = cnp["spec"]["ingress"]
    assert api["fromEndpoints"] == [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "apps"}}]
    [port_rule] = api["toPorts"]
    assert port_rule["ports"] == [{"port": "8000", "protocol": "TCP"}]
    assert port_rule["rules"] == {
        "http": [
            {"method": "GET", "path": "/health"},
            {"method": "GET", "path": "/v1/models"},
            {"method": "POST", "path": "/v1/(chat/)?completions"},
            {"method": "POST", "path": "/v1/embeddings"},
        ]
    }
    assert port_rule["rules"]["http"] == API_RULES
    assert metrics["fromEndpoints"] == [
        {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:rsName": "ama-metrics"}}
    ]
    assert metrics["toPorts"][0]["rules"] == {"http": [{"method": "GET", "path": "/metrics"}]}
    # Cilium adds allow rules up: the namespace policy must not also admit the model pods port-wide.
    policy = _policies(document)["apps"]
    assert policy["spec"]["podSelector"] == {
        "matchExpressions": [{"key": "ai-platform/model", "operator": "DoesNotExist"}]
    }
    assert "ai-platform/model" in pod_labels


def test_model_pods_start_only_after_their_policies(plan_documents: dict[str, dict[str, Any]]) -> None:
    resources = plan_documents["dev"]["resources"]
    dep = next(r for r in resources if r["name"] == "weu1-models-assistant-deployment")
    assert any(d.endswith("::weu1-models-assistant-http-policy") for d in dep["dependencies"])
    assert any(d.endswith("::weu1-dra-apps-networkpolicy") for d in dep["dependencies"])
    cnp = next(r for r in resources if r["name"] == "weu1-models-assistant-http-policy")
    assert cnp["type"] == "kubernetes:cilium.io/v2:CiliumNetworkPolicy"
    assert cnp["provider"].endswith("::weu1-k8s")


def test_allowed_namespaces_reach_the_models_on_l7_clusters(l7_allowed: dict[str, Any]) -> None:
    document = l7_allowed["document"]
    [cnp] = [o for o in k8s_objects(document, "CiliumNetworkPolicy") if o["metadata"]["name"] == "research-3b"]
    assert [
        e["matchLabels"]["k8s:io.kubernetes.pod.namespace"] for e in cnp["spec"]["ingress"][0]["fromEndpoints"]
    ] == [
        "research",
        "apps",
    ]
    peers = _policies(document)["research"]["spec"]["ingress"][0]["from"]
    assert {
        "namespaceSelector": {"matchExpressions": [{"key": NAMESPACE_NAME, "operator": "In", "values": ["apps"]}]}
    } in peers
    assert (
        "team research [mtls requested, not enforced] [egress default deny, allowed files.pythonhosted.org, "
        "pypi.org] [ingress also from apps]"
    ) in l7_allowed["summary"]


# ----------------------------------------------------------------------------------------------------------------
# FQDN-only cluster, isolation switched off


def test_fqdn_cluster_gets_no_l7_policy_but_keeps_namespace_isolation(relaxed: dict[str, Any]) -> None:
    document = relaxed["document"]
    # No L7 policy; the FQDN egress policies of research (egress.defaultDeny) work on an FQDN-only cluster.
    cnps = {o["metadata"]["name"] for o in k8s_objects(document, "CiliumNetworkPolicy")}
    assert cnps == {"egress-default-deny", "egress-model-hub", "egress-model-hub-ray"}
    research = _policies(document)["research"]
    validate_strict(research, "1.34")
    assert research["spec"]["podSelector"] == {}, "no L7 policy: the namespace policy covers the model servers"
    assert research["spec"]["ingress"][0]["from"][1] == {
        "namespaceSelector": {
            "matchExpressions": [{"key": NAMESPACE_NAME, "operator": "In", "values": ["app-routing-system", "apps"]}]
        }
    }


def test_network_isolation_false_removes_the_policy_and_is_flagged(relaxed: dict[str, Any]) -> None:
    document = relaxed["document"]
    assert "apps" not in _policies(document)
    [violation] = [v for v in document["policyViolations"] if v["policy"] == "team-network-isolation"]
    assert violation["enforcement"] == "advisory"  # dev; mandatory in staging and prod
    assert violation["urn"].endswith("::weu1-dra-ns-apps")
    assert "Fix: set teams.apps.networkIsolation: true" in violation["message"]
    assert "team apps [no network isolation]" in relaxed["summary"]
