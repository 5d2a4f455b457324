"""Cluster component under mocks: the resources, their parents and the security-relevant inputs."""

from __future__ import annotations

import base64
from typing import Any

import yaml

from components.cluster import AKS_AAD_SERVER_ID, kubelogin_kubeconfig

CLUSTER = "azure-native:containerservice:ManagedCluster"


def resources(document: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in document["resources"] if r["type"] == type_]


def cluster_inputs(document: dict[str, Any], key: str) -> dict[str, Any]:
    (cluster,) = [r for r in resources(document, CLUSTER) if r["name"] == f"{key}-aks"]
    return cluster["inputs"]


def test_cilium_overlay_networking(plan_documents) -> None:
    network = cluster_inputs(plan_documents["dev"], "weu1")["networkProfile"]
    assert network["networkPlugin"] == "azure"
    assert network["networkPluginMode"] == "overlay"
    assert network["networkDataplane"] == "cilium"
    assert network["networkPolicy"] == "cilium"
    assert network["podCidr"] == "192.168.0.0/16"
    assert network["advancedNetworking"] == {
        "enabled": True,
        "observability": {"enabled": True},
        "security": {"enabled": True, "advancedNetworkPolicies": "L7"},
    }


def test_identity_and_access_baseline(plan_documents) -> None:
    for stack, document in plan_documents.items():
        for cluster in resources(document, CLUSTER):
            inputs = cluster["inputs"]
            assert inputs["aadProfile"]["managed"] is True, stack
            assert inputs["aadProfile"]["enableAzureRBAC"] is True, stack
            assert inputs["disableLocalAccounts"] is True, stack
            assert inputs["oidcIssuerProfile"] == {"enabled": True}, stack
            assert inputs["securityProfile"]["workloadIdentity"] == {"enabled": True}, stack
            assert inputs["identity"]["type"] == "UserAssigned", stack
            assert inputs["autoUpgradeProfile"]["nodeOSUpgradeChannel"] == "NodeImage", stack


def test_production_is_private_paid_and_protected(plan_documents) -> None:
    prod = plan_documents["prod"]
    clusters = resources(prod, CLUSTER)
    assert {c["inputs"]["location"] for c in clusters} == {"westeurope", "northeurope"}
    for cluster in clusters:
        assert cluster["inputs"]["apiServerAccessProfile"]["enablePrivateCluster"] is True
        assert "authorizedIPRanges" not in cluster["inputs"]["apiServerAccessProfile"]
        assert cluster["inputs"]["sku"] == {"name": "Base", "tier": "Premium"}
        assert cluster["protect"] is True
    assert all(r["protect"] for r in resources(prod, "azure-native:resources:ResourceGroup"))


def test_dev_uses_authorized_ranges_and_is_not_protected(plan_documents) -> None:
    inputs = cluster_inputs(plan_documents["dev"], "weu1")
    assert inputs["apiServerAccessProfile"]["enablePrivateCluster"] is False
    assert inputs["apiServerAccessProfile"]["authorizedIPRanges"] == ["203.0.113.0/24"]
    assert inputs["sku"]["tier"] == "Free"
    (cluster,) = resources(plan_documents["dev"], CLUSTER)
    assert cluster["protect"] is False


def test_exactly_one_inline_pool_the_tainted_system_pool(plan_documents) -> None:
    for document in plan_documents.values():
        for cluster in resources(document, CLUSTER):
            (system,) = cluster["inputs"]["agentPoolProfiles"]
            assert system["mode"] == "System"
            assert system["nodeTaints"] == ["CriticalAddonsOnly=true:NoSchedule"]
            assert system["enableAutoScaling"] is True
            assert system["enableNodePublicIP"] is False
            assert cluster["ignoreChanges"][0] == "agentPoolProfiles[0].count"  # versions: tests/test_maintenance.py


def test_gpu_pools_are_separate_agent_pools_parented_by_the_pool_component(plan_documents) -> None:
    document = plan_documents["staging"]
    by_urn = {r["urn"]: r for r in document["resources"]}
    pools = resources(document, "azure-native:containerservice:AgentPool")
    assert {p["inputs"]["agentPoolName"] for p in pools} == {"a100blue", "a100green", "kaitoblue"}
    for pool in pools:
        parent = by_urn[pool["parent"]]
        assert parent["type"] == "aiplatform:index:BlueGreenGpuPools"
        assert by_urn[parent["parent"]]["type"] == "aiplatform:index:AksCluster"
        assert pool["inputs"]["mode"] == "User"
        assert pool["inputs"]["enableNodePublicIP"] is False
        assert pool["inputs"]["enableEncryptionAtHost"] is True
        assert pool["inputs"]["enableAutoScaling"] is True
        assert pool["ignoreChanges"] == ["count", "orchestratorVersion"]  # staging: Fleet Stable moves the minor
        cluster_urn = next(r["urn"] for r in resources(document, CLUSTER))
        assert cluster_urn in pool["dependencies"]


def test_kubernetes_provider_uses_a_secret_kubeconfig(plan_documents) -> None:
    for document in plan_documents.values():
        providers = resources(document, "pulumi:providers:kubernetes")
        assert len(providers) == len(resources(document, CLUSTER))
        for provider in providers:
            assert provider["inputs"]["kubeconfig"] == "[secret]"
        assert all(v == "[secret]" for k, v in document["outputs"].items() if k.endswith("Kubeconfig"))


def test_subnet_role_for_the_cluster_identity(plan_documents) -> None:
    document = plan_documents["dev"]
    roles = [
        r
        for r in resources(document, "azure-native:authorization:RoleAssignment")
        if r["name"] == "weu1-subnet-network-contributor"
    ]
    (role,) = roles
    assert role["inputs"]["principalType"] == "ServicePrincipal"
    cluster = next(r for r in resources(document, CLUSTER))
    assert role["urn"] in cluster["dependencies"]


def test_kubelogin_conversion_never_prompts() -> None:
    aks_kubeconfig = {
        "apiVersion": "v1",
        "clusters": [{"name": "c", "cluster": {"server": "https://c.hcp.westeurope.azmk8s.io:443"}}],
        "users": [
            {
                "name": "u",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "kubelogin",
                        "args": [
                            "get-token",
                            "--login",
                            "devicecode",
                            "--server-id",
                            AKS_AAD_SERVER_ID,
                            "--tenant-id",
                            "t",
                        ],
                        "env": None,
                    }
                },
            }
        ],
    }
    encoded = base64.b64encode(yaml.safe_dump(aks_kubeconfig).encode()).decode()
    for mode in ("azurecli", "workloadidentity"):
        converted = yaml.safe_load(kubelogin_kubeconfig(encoded, mode))
        exec_config = converted["users"][0]["user"]["exec"]
        assert exec_config["args"] == ["get-token", "--login", mode, "--server-id", AKS_AAD_SERVER_ID]
        assert exec_config["interactiveMode"] == "Never"
        assert converted["clusters"] == aks_kubeconfig["clusters"]


def test_required_tags_on_every_taggable_azure_resource(plan_documents) -> None:
    for stack, document in plan_documents.items():
        for resource in document["resources"]:
            tags = resource["inputs"].get("tags")
            if resource["type"].startswith("azure-native:") and tags is not None:
                assert tags["environment"] == stack, resource["urn"]
                assert tags["owner"], resource["urn"]
                assert tags["cost-center"], resource["urn"]


def test_no_in_cluster_object_uses_an_ambient_kubernetes_provider(plan_documents) -> None:
    for stack, document in plan_documents.items():
        providers = {r["urn"]: r for r in resources(document, "pulumi:providers:kubernetes")}
        in_cluster = [r for r in document["resources"] if r["custom"] and r["type"].startswith("kubernetes:")]
        assert in_cluster, stack
        for resource in in_cluster:
            assert resource["provider"] in providers, (stack, resource["urn"])
            # The provider belongs to the cluster the object is named after (weu1-..., neu1-...).
            cluster_key = providers[resource["provider"]]["name"].removesuffix("-k8s")
            assert resource["name"].startswith((f"{cluster_key}-", f"monitoring-{cluster_key}-")), resource["urn"]
