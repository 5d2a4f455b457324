"""Every rule of the pack: a compliant, a violating, an unset-property and an unknown-value case (table),
plus the cross-resource rules (Fleet-managed upgrades, advertisers, presence checks, budget, waivers)."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from components.dra import network_policy
from components.teams import TeamSpec
from policies.engine import Resource, Violation, evaluate
from policies.pack_config import check_config, environment_config, pack_config
from policies.rules import RULES, RULES_BY_ID
from tests.helpers import DELETE, changed

TODAY = dt.date(2026, 6, 1)
STACK = "urn:pulumi:prod::ai-platform::pulumi:pulumi:Stack$aiplatform:index:AksCluster::weu1"
CLUSTER_URN = f"{STACK[: -len('::weu1')]}$azure-native:containerservice:ManagedCluster::weu1-aks"
TAGS = {"environment": "prod", "owner": "platform-team", "cost-center": "cc-ai-prod"}

CLUSTER: dict[str, Any] = {
    "location": "westeurope",
    "resourceName": "aks-aiplat-prod-weu1",
    "kubernetesVersion": "1.34",
    "tags": TAGS,
    "aadProfile": {"managed": True, "enableAzureRBAC": True},
    "enableRBAC": True,
    "disableLocalAccounts": True,
    "oidcIssuerProfile": {"enabled": True},
    "sku": {"name": "Base", "tier": "Premium"},
    "securityProfile": {
        "workloadIdentity": {"enabled": True},
        "imageCleaner": {"enabled": True, "intervalHours": 48},
        "defender": {"securityMonitoring": {"enabled": True}},
    },
    "apiServerAccessProfile": {"enablePrivateCluster": True, "disableRunCommand": True},
    "autoUpgradeProfile": {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "NodeImage"},
    "networkProfile": {
        "networkPlugin": "azure",
        "networkPluginMode": "overlay",
        "networkDataplane": "cilium",
        "networkPolicy": "cilium",
    },
    "addonProfiles": {"azurepolicy": {"enabled": True}},
    "azureMonitorProfile": {"metrics": {"enabled": True}},
    "agentPoolProfiles": [
        {
            "name": "system",
            "mode": "System",
            "vmSize": "Standard_D8ds_v5",
            "enableEncryptionAtHost": True,
            "enableNodePublicIP": False,
            "nodeTaints": ["CriticalAddonsOnly=true:NoSchedule"],
        }
    ],
}


def pool_inputs(colour: str, role: str, vm_size: str = "Standard_NC24ads_A100_v4") -> dict[str, Any]:
    taints = ["nvidia.com/gpu=present:NoSchedule"] + (
        ["ai-platform/standby=true:NoSchedule"] if role == "standby" else []
    )
    return {
        "agentPoolName": f"a100{colour}",
        "resourceName": "aks-aiplat-prod-weu1",
        "vmSize": vm_size,
        "mode": "User",
        "orchestratorVersion": "1.34",
        "enableAutoScaling": True,
        "minCount": 1,
        "maxCount": 4,
        "enableEncryptionAtHost": True,
        "enableNodePublicIP": False,
        "gpuInstanceProfile": "MIG1g",
        "nodeLabels": {
            "ai-platform/gpu-pool": "a100",
            "ai-platform/color": colour,
            "ai-platform/slot-role": role,
            "ai-platform/gpu-vendor": "nvidia",
            "ai-platform/gpu-allocation": "dra",
        },
        "nodeTaints": taints,
        "tags": TAGS,
    }


def res(kind: str, name: str, inputs: dict[str, Any], deps: tuple[str, ...] = (), protect: bool = True) -> Resource:
    urn = f"urn:pulumi:prod::ai-platform::aiplatform:index:AksCluster${kind}::{name}"
    return Resource(urn, kind, name, inputs, protect=protect, parent=STACK, dependencies=deps)


def stack(
    cluster: dict[str, Any] | None = None,
    active: dict[str, Any] | None = None,
    standby: dict[str, Any] | None = None,
    extra: list[Resource] | None = None,
    drop: tuple[str, ...] = (),
) -> list[Resource]:
    aks = res("azure-native:containerservice:ManagedCluster", "weu1-aks", cluster or copy.deepcopy(CLUSTER))
    resources = [
        aks,
        res(
            "azure-native:containerservice:AgentPool",
            "weu1-gpu-a100blue",
            active or pool_inputs("blue", "active"),
            (aks.urn,),
        ),
        res(
            "azure-native:containerservice:AgentPool",
            "weu1-gpu-a100green",
            standby or pool_inputs("green", "standby"),
            (aks.urn,),
        ),
        res(
            "azure-native:monitor:AzureMonitorWorkspace",
            "monitoring-workspace",
            {"location": "westeurope", "tags": TAGS},
        ),
        res("azure-native:monitor:DataCollectionRuleAssociation", "monitoring-weu1-dcra", {}, (aks.urn,)),
        res("azure-native:containerservice:FleetMember", "fleet-weu1", {"group": "canary"}, (aks.urn,)),
        *(extra or []),
    ]
    return [r for r in resources if r.name not in drop]


def run(
    rule_id: str, resources: list[Resource], settings: dict[str, Any] | None = None, cost: dict[str, Any] | None = None
) -> list[Violation]:
    config = {rule_id: {"enforcementLevel": "mandatory", **(settings or {})}}
    return evaluate([RULES_BY_ID[rule_id]], resources, config, cost, TODAY)


C, P, S = "cluster", "active", "standby"
# rule, target, property path, violating value, what an unset property means, settings
CASES: list[tuple[str, str, str, Any, str, dict[str, Any]]] = [
    ("aks-entra-id", C, "aadProfile.managed", False, "violates", {}),
    ("aks-azure-rbac", C, "aadProfile.enableAzureRBAC", False, "violates", {}),
    ("aks-kubernetes-rbac", C, "enableRBAC", False, "passes", {}),
    ("aks-local-accounts-disabled", C, "disableLocalAccounts", False, "violates", {}),
    ("aks-api-server-restricted", C, "apiServerAccessProfile.enablePrivateCluster", False, "violates", {}),
    ("aks-api-server-private", C, "apiServerAccessProfile.enablePrivateCluster", False, "violates", {}),
    ("aks-run-command-disabled", C, "apiServerAccessProfile.disableRunCommand", False, "violates", {}),
    ("aks-network-policy-cilium", C, "networkProfile.networkPolicy", "calico", "violates", {}),
    ("aks-cilium-dataplane", C, "networkProfile.networkDataplane", "azure", "violates", {}),
    ("aks-oidc-issuer", C, "oidcIssuerProfile.enabled", False, "violates", {}),
    ("aks-workload-identity", C, "securityProfile.workloadIdentity.enabled", False, "violates", {}),
    ("aks-upgrade-channel", C, "autoUpgradeProfile.upgradeChannel", "none", "violates", {}),
    ("aks-node-os-upgrade-channel", C, "autoUpgradeProfile.nodeOSUpgradeChannel", "None", "passes", {}),
    ("aks-paid-tier", C, "sku.tier", "Free", "violates", {}),
    ("aks-encryption-at-host", P, "enableEncryptionAtHost", False, "violates", {}),
    ("aks-no-node-public-ip", P, "enableNodePublicIP", True, "passes", {}),
    ("aks-azure-policy-addon", C, "addonProfiles.azurepolicy.enabled", False, "violates", {}),
    ("aks-defender", C, "securityProfile.defender.securityMonitoring.enabled", False, "violates", {}),
    ("aks-image-cleaner", C, "securityProfile.imageCleaner.enabled", False, "violates", {}),
    (
        "aks-single-inline-pool",
        C,
        "agentPoolProfiles",
        [{"name": "system", "mode": "System"}, {"name": "gpu", "mode": "User"}],
        "violates",
        {},
    ),
    (
        "gpu-sku-allowed",
        P,
        "vmSize",
        "Standard_ND96isr_H200_v5",
        "violates",
        {"allowedVmSizes": ["Standard_NC24ads_A100_v4"]},
    ),
    ("gpu-taint", P, "nodeTaints", ["dedicated=gpu:PreferNoSchedule"], "violates", {}),
    ("gpu-autoscaling", P, "enableAutoScaling", False, "violates", {}),
    ("gpu-max-nodes", P, "maxCount", 40, "violates", {"maxNodesPerPool": 16}),
    ("gpu-mig-supported", P, "vmSize", "Standard_NC8as_T4_v3", "violates", {}),
    ("gpu-spot-allowed", P, "scaleSetPriority", "Spot", "passes", {"allowSpot": False}),
    ("gpu-single-advertiser", P, "nodeLabels.ai-platform/gpu-allocation", "both", "violates", {}),
    ("bluegreen-labels", P, "nodeLabels.ai-platform/color", "purple", "violates", {}),
    ("bluegreen-standby-tainted", S, "nodeTaints", ["nvidia.com/gpu=present:NoSchedule"], "violates", {}),
    ("bluegreen-active-slot", P, "maxCount", 0, "violates", {"minActiveNodes": 1}),
    ("dra-kubernetes-version", C, "kubernetesVersion", "1.33", "violates", {}),
    ("monitoring-cluster-metrics", C, "azureMonitorProfile.metrics.enabled", False, "violates", {}),
    ("required-tags", C, "tags", {"environment": "prod"}, "violates", {}),
    ("tags-environment-match", C, "tags.environment", "dev", "passes", {"environment": "prod"}),
]


def case_stack(target: str, path: str, value: Any) -> list[Resource]:
    if target == C:
        return stack(cluster=changed(CLUSTER, path, value))
    if target == P:
        return stack(active=changed(pool_inputs("blue", "active"), path, value))
    return stack(standby=changed(pool_inputs("green", "standby"), path, value))


def test_pack_has_at_least_30_rules_with_complete_metadata() -> None:
    assert len(RULES) >= 30
    for rule in RULES:
        assert rule.id
        assert rule.description
        assert rule.severity in ("low", "medium", "high", "critical")
        assert rule.enforcement in ("advisory", "mandatory", "disabled")


def test_every_rule_is_exercised_by_a_test() -> None:
    special = {
        "protect-stateful",
        "monitoring-workspace",
        "monitoring-dcr-association",
        "logs-kube-audit-admin",
        "fleet-membership",
        "gpu-budget",
        "waiver-valid",
        "team-network-isolation",
        # Storage accounts: tests/test_weight_cache.py (compliant, violating, unset, unknown).
        "storage-private",
        "storage-no-shared-key",
        "storage-secure-transfer",
    }
    assert {c[0] for c in CASES} | special == set(RULES_BY_ID)


@pytest.mark.parametrize(("rule_id", "target", "path", "bad", "unset", "settings"), CASES, ids=[c[0] for c in CASES])
def test_rule_compliant_violating_unset_unknown(
    rule_id: str, target: str, path: str, bad: Any, unset: str, settings: dict[str, Any]
) -> None:
    assert run(rule_id, stack(), settings) == [], "the compliant stack must pass"

    violating = run(rule_id, case_stack(target, path, bad), settings)
    assert violating, f"{rule_id} must flag {path}={bad!r}"
    assert all(v.enforcement == "mandatory" and v.urn for v in violating)
    message = violating[0].message
    assert path.split(".", maxsplit=1)[0] in message or path.rsplit(".", maxsplit=1)[-1] in message, message
    assert "expected" in message, message
    assert "Fix:" in message, message

    unset_result = run(rule_id, case_stack(target, path, DELETE), settings)
    assert bool(unset_result) == (unset == "violates"), unset_result
    if unset_result:
        assert all(v.enforcement == "mandatory" for v in unset_result)

    unknown = run(rule_id, case_stack(target, path, None), settings)
    assert unknown, f"{rule_id}: an unknown {path} must not pass silently"
    assert all(v.enforcement == "advisory" for v in unknown), unknown
    assert any("cannot verify" in v.message for v in unknown)


def test_unset_message_names_the_azure_default() -> None:
    [violation] = run("aks-local-accounts-disabled", case_stack(C, "disableLocalAccounts", DELETE))
    assert "unset (Azure default: false" in violation.message
    assert "weu1-aks" in violation.message
    assert "security.localAccounts" in violation.message


def test_open_authorized_range_is_refused() -> None:
    cluster = changed(
        CLUSTER, "apiServerAccessProfile", {"enablePrivateCluster": False, "authorizedIPRanges": ["0.0.0.0/0"]}
    )
    assert run("aks-api-server-restricted", stack(cluster=cluster))
    cluster["apiServerAccessProfile"]["authorizedIPRanges"] = ["203.0.113.0/24"]
    assert run("aks-api-server-restricted", stack(cluster=cluster)) == []


def test_upgrade_channel_none_is_fine_when_fleet_auto_upgrade_manages_the_cluster() -> None:
    cluster = changed(CLUSTER, "autoUpgradeProfile.upgradeChannel", "none")
    profile = res("azure-native:containerservice:AutoUpgradeProfile", "fleet-auto", {"channel": "Stable"})
    assert run("aks-upgrade-channel", stack(cluster=cluster, extra=[profile])) == []
    # Without membership the profile does not cover the cluster.
    assert run("aks-upgrade-channel", stack(cluster=cluster, extra=[profile], drop=("fleet-weu1",)))


def test_spot_is_allowed_where_the_environment_allows_it() -> None:
    spot = stack(active=changed(pool_inputs("blue", "active"), "scaleSetPriority", "Spot"))
    assert run("gpu-spot-allowed", spot, {"allowSpot": True}) == []
    assert run("gpu-spot-allowed", spot, {"allowSpot": False})


def test_mig_on_a100_passes_and_gpu_caps_count_gpus() -> None:
    assert run("gpu-mig-supported", stack()) == []
    big = stack(active=changed(pool_inputs("blue", "active", "Standard_ND96isr_H100_v5"), "gpuInstanceProfile", DELETE))
    [violation] = run("gpu-max-nodes", big, {"maxNodesPerPool": 16, "maxGpusPerPool": 16})
    assert "at most 16 GPUs" in violation.message


def test_device_plugin_on_dra_nodes_is_a_second_advertiser() -> None:
    release = res(
        "kubernetes:helm.sh/v3:Release",
        "weu1-device-plugin",
        {"chart": "nvidia-device-plugin", "values": {"nodeSelector": {"ai-platform/gpu-vendor": "nvidia"}}},
        ("weu1-aks",),
    )
    violations = run("gpu-single-advertiser", stack(extra=[release]))
    assert {v.message.split("can run on ")[1].split(",")[0] for v in violations} == {
        "AgentPool 'weu1-gpu-a100blue'",
        "AgentPool 'weu1-gpu-a100green'",
    }
    scoped = res(
        "kubernetes:helm.sh/v3:Release",
        "weu1-device-plugin",
        {"chart": "nvidia-device-plugin", "values": {"nodeSelector": {"ai-platform/gpu-allocation": "device-plugin"}}},
    )
    assert run("gpu-single-advertiser", stack(extra=[scoped])) == []


def test_blue_green_needs_exactly_one_active_colour() -> None:
    no_active = stack(active=changed(pool_inputs("blue", "active"), "nodeLabels.ai-platform/slot-role", "standby"))
    [violation] = run("bluegreen-active-slot", no_active)
    assert "no AgentPool" in violation.message
    assert "a100" in violation.message
    two = stack(standby=pool_inputs("green", "active"))
    assert any("2 AgentPools are active" in v.message for v in run("bluegreen-active-slot", two))
    low = stack(active=changed(pool_inputs("blue", "active"), "minCount", 0))
    assert run("bluegreen-active-slot", low, {"minActiveNodes": 1})
    assert run("bluegreen-active-slot", low, {"minActiveNodes": 0}) == []


def test_active_slot_must_not_carry_the_standby_taint() -> None:
    tainted = pool_inputs("blue", "active")
    tainted["nodeTaints"].append("ai-platform/standby=true:NoSchedule")
    assert run("bluegreen-standby-tainted", stack(active=tainted))


def test_dra_objects_need_kubernetes_134() -> None:
    claim = Resource(
        "urn:pulumi:prod::ai-platform::kubernetes:resource.k8s.io/v1:DeviceClass::weu1-shared",
        "kubernetes:resource.k8s.io/v1:DeviceClass",
        "weu1-shared",
        {},
        dependencies=(CLUSTER_URN,),
    )
    old = changed(CLUSTER, "kubernetesVersion", "1.33")
    devplugin = {"ai-platform/gpu-allocation": "device-plugin"}
    active = changed(
        pool_inputs("blue", "active"), "nodeLabels", {**pool_inputs("blue", "active")["nodeLabels"], **devplugin}
    )
    standby = changed(
        pool_inputs("green", "standby"), "nodeLabels", {**pool_inputs("green", "standby")["nodeLabels"], **devplugin}
    )
    assert run("dra-kubernetes-version", stack(cluster=old, active=active, standby=standby)) == []
    [violation] = run("dra-kubernetes-version", stack(cluster=old, active=active, standby=standby, extra=[claim]))
    assert "weu1-shared" in violation.message
    assert "1.33" in violation.message


@pytest.mark.parametrize(
    ("rule_id", "dropped"),
    [
        ("monitoring-workspace", "monitoring-workspace"),
        ("monitoring-dcr-association", "monitoring-weu1-dcra"),
        ("fleet-membership", "fleet-weu1"),
    ],
)
def test_presence_rules(rule_id: str, dropped: str) -> None:
    assert run(rule_id, stack()) == []
    [violation] = run(rule_id, stack(drop=(dropped,)))
    assert violation.urn
    assert "Fix:" in violation.message


def _diagnostics(logs: Any, cluster_urn: str) -> Resource:
    return res("azure-native:monitor:DiagnosticSetting", "monitoring-weu1-diagnostics", {"logs": logs}, (cluster_urn,))


def test_kube_audit_admin_must_reach_log_analytics() -> None:
    aks_urn = stack()[0].urn
    audit = {"category": "kube-audit-admin", "enabled": True}
    guard = {"category": "guard", "enabled": True}
    assert run("logs-kube-audit-admin", stack(extra=[_diagnostics([guard, audit], aks_urn)])) == []
    # No setting at all, one without the category, one with it switched off: each a mandatory violation.
    for extra in ([], [_diagnostics([guard], aks_urn)], [_diagnostics([{**audit, "enabled": False}], aks_urn)]):
        [violation] = run("logs-kube-audit-admin", stack(extra=extra))
        assert violation.enforcement == "mandatory"
        assert "kube-audit-admin" in violation.message
        assert "Fix: set monitoring.logs.enabled: true" in violation.message
    # A setting on another resource does not count for this cluster.
    assert run("logs-kube-audit-admin", stack(extra=[_diagnostics([audit], "urn:other")]))
    # Unknown categories (preview) are never a pass: an advisory "not known before deployment".
    [unknown] = run("logs-kube-audit-admin", stack(extra=[_diagnostics(None, aks_urn)]))
    assert "not known before deployment" in unknown.message
    [unknown_entry] = run(
        "logs-kube-audit-admin", stack(extra=[_diagnostics([guard, {"category": None, "enabled": True}], aks_urn)])
    )
    assert "not known before deployment" in unknown_entry.message


def test_protect_on_clusters_and_stateful_resources() -> None:
    assert run("protect-stateful", stack()) == []
    unprotected = [res(r.type, r.name, dict(r.inputs), r.dependencies, protect=False) for r in stack()]
    names = {v.message.split("'")[1] for v in run("protect-stateful", unprotected)}
    assert names == {"weu1-aks", "monitoring-workspace"}  # pools and associations need no protect


def cost(max_usd: float, vm_size: str = "Standard_NC24ads_A100_v4") -> dict[str, Any]:
    return {
        "items": [
            {
                "kind": "nodePool",
                "vmSize": vm_size,
                "priced": True,
                "baselineMonthlyUsd": max_usd / 4,
                "maxMonthlyUsd": max_usd,
            },
            {
                "kind": "nodePool",
                "vmSize": "Standard_D8ds_v5",
                "priced": True,
                "baselineMonthlyUsd": 900.0,
                "maxMonthlyUsd": 9000.0,
            },
        ]
    }


def test_budget_guard_counts_gpu_pools_only() -> None:
    assert run("gpu-budget", stack(), {"budgetMonthlyUsd": 10000}, cost(9000)) == []
    [violation] = run("gpu-budget", stack(), {"budgetMonthlyUsd": 8000}, cost(9000))
    assert "9,000 USD/month" in violation.message
    assert "8,000" in violation.message
    assert run("gpu-budget", stack(), {"budgetMonthlyUsd": 8000, "basis": "baseline"}, cost(9000)) == []
    assert run("gpu-budget", stack(), {}, cost(9000)) == [], "no budget set: nothing to guard"
    unpriced = {"items": [{**cost(0)["items"][0], "priced": False}]}
    assert all(v.enforcement == "advisory" for v in run("gpu-budget", stack(), {"budgetMonthlyUsd": 1}, unpriced))


def test_budget_guard_computes_cost_from_resources_without_a_plan() -> None:
    # The CLI pack has no plan: the same pricing function estimates the pools (4 x A100 at maxCount per pool).
    [violation] = run("gpu-budget", stack(), {"budgetMonthlyUsd": 1})
    assert "USD/month" in violation.message


def test_cli_budget_guard_prices_with_the_stack_overrides() -> None:
    # Without a plan (the CLI pack), the stack's `pricing` overrides travel in the pack config: 1 USD/h per A100
    # node makes both pools (maxCount 4 each) 2 x 4 x 730 = 5,840 USD/month at most.
    pricing = {"vmSizes": {"Standard_NC24ads_A100_v4": {"westeurope": 1.0}}}
    config = pack_config("prod", 6000.0, [], pricing)
    assert config["gpu-budget"]["pricing"] == pricing
    assert check_config(config) == []
    assert run("gpu-budget", stack(), {"budgetMonthlyUsd": 6000.0, "pricing": pricing}) == []
    [violation] = run("gpu-budget", stack(), {"budgetMonthlyUsd": 5000.0, "pricing": pricing})
    assert "5,840" in violation.message


def waiver(expires: str, rule: str = "aks-paid-tier", resource: str = "weu1-aks") -> dict[str, str]:
    return {
        "rule": rule,
        "resource": resource,
        "reason": "Free tier until the SLA budget is approved",
        "expires": expires,
    }


def test_valid_waiver_suppresses_and_expired_waiver_fails() -> None:
    free = stack(cluster=changed(CLUSTER, "sku.tier", "Free"))
    config = pack_config("prod", None, [waiver("2026-12-31")])
    found = evaluate(RULES, free, config, None, TODAY)
    assert [v for v in found if v.policy in ("aks-paid-tier", "waiver-valid")] == []

    expired = pack_config("prod", None, [waiver("2026-01-31")])
    by_rule = {v.policy: v for v in evaluate(RULES, free, expired, None, TODAY)}
    assert by_rule["aks-paid-tier"].enforcement == "mandatory", "an expired waiver suppresses nothing"
    assert "expired on 2026-01-31" in by_rule["waiver-valid"].message
    assert by_rule["waiver-valid"].urn == by_rule["aks-paid-tier"].urn


def test_waiver_by_urn_and_unknown_rule() -> None:
    free = stack(cluster=changed(CLUSTER, "sku.tier", "Free"))
    by_urn = pack_config("prod", None, [waiver("2026-12-31", resource=free[0].urn)])
    assert not [v for v in evaluate(RULES, free, by_urn, None, TODAY) if v.policy == "aks-paid-tier"]
    bogus = pack_config("prod", None, [waiver("2026-12-31", rule="no-such-rule")])
    assert any(
        "no-such-rule" in v.message for v in evaluate(RULES, free, bogus, None, TODAY) if v.policy == "waiver-valid"
    )


def test_environment_configs_are_valid_and_prod_is_strictest() -> None:
    levels = {env: environment_config(env) for env in ("dev", "staging", "prod")}
    for config in levels.values():
        assert check_config(config) == []
        assert set(config) == set(RULES_BY_ID)

    def mandatory(env: str) -> set[str]:
        return {
            k for k, v in levels[env].items() if (v if isinstance(v, str) else v["enforcementLevel"]) == "mandatory"
        }

    assert mandatory("dev") < mandatory("staging") < mandatory("prod")
    assert levels["dev"]["gpu-spot-allowed"]["allowSpot"] is True
    assert levels["prod"]["gpu-spot-allowed"]["allowSpot"] is False


def test_pack_config_carries_budget_waivers_and_environment() -> None:
    config = pack_config("prod", 1234.0, [waiver("2026-12-31")])
    assert config["gpu-budget"]["budgetMonthlyUsd"] == 1234.0
    assert config["tags-environment-match"]["environment"] == "prod"
    assert config["aks-paid-tier"]["waivers"] == [{k: v for k, v in waiver("2026-12-31").items() if k != "rule"}]
    assert config["waiver-valid"]["allWaivers"] == [waiver("2026-12-31")]
    assert check_config(config) == []


K8S = "urn:pulumi:prod::ai-platform::aiplatform:index:AksCluster$pulumi:providers:kubernetes::"


def team_namespace(
    policy: dict[str, Any] | None, team: str = "research", provider: str = "weu1-k8s", policy_provider: str = ""
) -> list[Resource]:
    """A team Namespace on a cluster (by its Kubernetes provider) and, unless None, a NetworkPolicy in it."""
    namespace = Resource(
        f"urn:pulumi:prod::ai-platform::aiplatform:index:GpuDra$kubernetes:core/v1:Namespace::weu1-dra-ns-{team}",
        "kubernetes:core/v1:Namespace",
        f"weu1-dra-ns-{team}",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": team, "labels": {"ai-platform/team": team}}},
        provider=K8S + provider,
    )
    if policy is None:
        return [namespace]
    return [
        namespace,
        Resource(
            f"urn:pulumi:prod::ai-platform::aiplatform:index:GpuDra$kubernetes:networking.k8s.io/v1:NetworkPolicy::"
            f"weu1-dra-{team}-networkpolicy",
            "kubernetes:networking.k8s.io/v1:NetworkPolicy",
            f"weu1-dra-{team}-networkpolicy",
            policy,
            provider=K8S + (policy_provider or provider),
        ),
    ]


def test_team_network_isolation_compliant_violating_unset_unknown() -> None:
    rule = "team-network-isolation"
    compliant = network_policy("research", TeamSpec(allow_ingress_from=["apps"]))
    assert run(rule, stack(extra=team_namespace(compliant))) == []
    l7_form = network_policy("research", TeamSpec(), exclude_model_servers=True)
    assert run(rule, stack(extra=team_namespace(l7_form))) == [], "model servers are covered by their L7 policy"
    plain = Resource("urn:x::kubernetes:core/v1:Namespace::tools", "kubernetes:core/v1:Namespace", "tools", {})
    assert run(rule, stack(extra=[plain])) == [], "only team namespaces (label ai-platform/team) are judged"

    open_to_all = changed(compliant, ["spec", "ingress"], [{"from": [{"namespaceSelector": {}}]}])
    [violation] = run(rule, stack(extra=team_namespace(open_to_all)))
    assert violation.enforcement == "mandatory"
    assert violation.urn is not None
    assert violation.urn.endswith("::weu1-dra-ns-research")
    assert "Namespace 'weu1-dra-ns-research': networkPolicy default-deny-ingress-from-other-namespaces" in (
        violation.message
    )
    assert "a namespaceSelector that does not name namespaces" in violation.message
    assert "expected a NetworkPolicy" in violation.message
    assert "Fix: set teams.research.networkIsolation: true" in violation.message
    for bad in (
        changed(compliant, ["spec", "ingress"], [{}]),
        changed(compliant, ["spec", "podSelector"], {"matchLabels": {"app": "web"}}),
        changed(compliant, ["spec", "policyTypes"], ["Egress"]),
        changed(compliant, ["spec", "ingress"], [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]),
    ):
        assert run(rule, stack(extra=team_namespace(bad))), bad

    [unset] = run(rule, stack(extra=team_namespace(None)))
    assert unset.enforcement == "mandatory"
    assert "networkPolicy is unset" in unset.message
    assert "Fix: set teams.research.networkIsolation: true" in unset.message

    [unknown] = run(rule, stack(extra=team_namespace(changed(compliant, "spec", None))))
    assert unknown.enforcement == "advisory"
    assert "cannot verify" in unknown.message


def test_team_network_isolation_is_judged_per_cluster() -> None:
    # prod runs the same team namespace on two clusters: a policy on weu1 does not isolate neu1's namespace.
    elsewhere = team_namespace(network_policy("inference", TeamSpec()), "inference", "neu1-k8s", "weu1-k8s")
    [violation] = run("team-network-isolation", stack(extra=elsewhere))
    assert "networkPolicy is unset" in violation.message
