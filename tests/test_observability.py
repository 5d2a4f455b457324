"""Observability: configuration errors, the Prometheus chain's inputs, rule expressions, Grafana access, DCGM."""

from __future__ import annotations

import json
from typing import Any

import promql_parser
import pytest

from components._common import ConfigError
from components.facts import GPU_TAINTS, SPOT_TAINT, STANDBY_TAINT
from components.observability import (
    CONFIG_ACCESS_ASSOCIATION,
    DASHBOARDS,
    DCGM_CHART_VERSION,
    KUBERNETES_RECORDING_RULES,
    NODE_RECORDING_RULES,
    dashboard_import_command,
    gpu_recording_rules,
    prom_name,
)
from stacks import plan as plan_module
from stacks.plan import StackFile, run_program
from stacks.summary import render_summary
from tests.helpers import changed, cli_map, load, recording_monitors
from tests.k8s_schema import validate_strict

WORKSPACE = "azure-native:monitor:AzureMonitorWorkspace"
DCE = "azure-native:monitor:DataCollectionEndpoint"
DCR = "azure-native:monitor:DataCollectionRule"
DCRA = "azure-native:monitor:DataCollectionRuleAssociation"
RULE_GROUP = "azure-native:alertsmanagement:PrometheusRuleGroup"
ACTION_GROUP = "azure-native:monitor:ActionGroup"
GRAFANA = "azure-native:dashboard:Grafana"
ROLE = "azure-native:authorization:RoleAssignment"
RELEASE = "kubernetes:helm.sh/v3:Release"
CLUSTER = "azure-native:containerservice:ManagedCluster"
AGENT_POOL = "azure-native:containerservice:AgentPool"

# Role definition GUIDs as Azure publishes them (built-in roles).
MONITORING_DATA_READER = "b0d8363b-8ddd-447d-831f-62ca05bff136"
GRAFANA_ADMIN = "22926164-76b3-42b3-bc55-97df8dab3e41"
GRAFANA_VIEWER = "60921a7e-fef1-4a43-9b16-a26c52ad4769"
SUBSCRIPTION = "5a3c1e2b-7d4f-4e8a-9b6c-0d1e2f3a4b5c"
ADMINS = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
VIEWERS = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"

BASE: dict[str, Any] = {
    "environment": "prod",
    "owner": "me",
    "costCenter": "cc",
    "location": "westeurope",
    "monitoring": {
        "workspaces": "region",
        "grafana": {"adminGroupObjectIds": [ADMINS], "viewerGroupObjectIds": [VIEWERS]},
        "logs": {"enabled": True},
        "alerts": {"emails": {"oncall": "oncall@contoso.com"}, "webhooks": {"pager": {"urlSecret": "pagerUrl"}}},
    },
    "clusters": {
        "weu1": {
            "location": "westeurope",
            "kubernetesVersion": "1.34",
            "gpuPools": {
                "h100": {
                    "active": "blue",
                    "slots": {
                        "blue": {"vmSize": "Standard_NC40ads_H100_v5", "minCount": 1, "maxCount": 2},
                        "green": {"vmSize": "Standard_NC40ads_H100_v5", "minCount": 0, "maxCount": 2},
                    },
                }
            },
        },
        "neu1": {"location": "northeurope", "kubernetesVersion": "1.34"},
    },
}


def _with(path: list[str], value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    return changed(base or BASE, path, value)


def _resources(document: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in document["resources"] if r["type"] == type_]


def _prometheus_dcrs(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The managed Prometheus rules (Container insights' rules have an extension data source instead)."""
    return [r for r in _resources(document, DCR) if "prometheusForwarder" in r["inputs"]["dataSources"]]


def _by_urn(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["urn"]: r for r in document["resources"]}


def _under_monitoring(document: dict[str, Any]) -> list[dict[str, Any]]:
    by_urn = _by_urn(document)
    found = []
    for r in document["resources"]:
        current = r
        while current["parent"] in by_urn:
            current = by_urn[current["parent"]]
        if current["type"] == "aiplatform:index:Observability" and r["custom"]:
            found.append(r)
    return found


def _run(values: dict[str, Any], secrets: dict[str, str] | None = None) -> dict[str, Any]:
    """Plan a small configuration; the deployer's subscription is known, so role definition ids are visible."""
    config_map = cli_map(values)
    secret_keys = []
    for key in secrets or {}:
        config_map[f"ai-platform-secrets:{key}"] = plan_module.SECRET
        secret_keys.append(f"ai-platform-secrets:{key}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            plan_module._PlanMocks,
            "call",
            lambda self, args: dict.fromkeys(("clientId", "objectId", "subscriptionId", "tenantId"), SUBSCRIPTION),
        )
        _, _, registrations, _ = run_program(StackFile("test", "Pulumi.test.yaml", config_map, secret_keys))
    return {"resources": [r.to_json() for r in registrations]}


@pytest.fixture(scope="module")
def custom() -> dict[str, Any]:
    return _run(BASE, {"pagerUrl": "https://example.invalid/hook"})


# ----------------------------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------------------------


def test_defaults_and_base_config() -> None:
    cfg = load(BASE)
    assert cfg.monitoring.enabled
    assert not cfg.monitoring.light
    assert cfg.monitoring.grafana_enabled
    light = load(_with(["monitoring"], {"light": True}, {**BASE, "environment": "dev"}))
    assert not light.monitoring.grafana_enabled
    assert light.monitoring.scrape_interval == "60s"
    assert cfg.monitoring.scrape_interval == "30s"


@pytest.mark.parametrize(
    ("path", "value", "key", "words"),
    [
        (["monitoring", "enabled"], False, "ai-platform:monitoring.enabled", "required in prod"),
        (
            ["monitoring"],
            {"light": True, "alerts": {"emails": {"oncall": "oncall@contoso.com"}}},
            "ai-platform:monitoring.light",
            "for dev",
        ),
        (["monitoring", "alerts"], {}, "ai-platform:monitoring.alerts", "at least one receiver"),
        (
            ["clusters", "neu1", "features"],
            {"monitoring": False},
            "ai-platform:clusters.neu1.features.monitoring",
            "required in prod",
        ),
        (
            ["monitoring", "alerts", "emails", "oncall"],
            "not-an-address",
            "ai-platform:monitoring.alerts.emails.oncall",
            "not an email",
        ),
        (
            ["monitoring", "alerts", "webhooks", "pager", "urlSecret"],
            "https://hooks.example.com/x",
            "ai-platform:monitoring.alerts.webhooks.pager.urlSecret",
            "not a URL",
        ),
        (
            ["monitoring", "alerts", "actionGroupShortName"],
            "much-too-long-name",
            "ai-platform:monitoring.alerts.actionGroupShortName",
            "at most 12",
        ),
        (
            ["monitoring", "grafana", "adminGroupObjectIds"],
            ["ops-team"],
            "ai-platform:monitoring.grafana.adminGroupObjectIds.0",
            "uuid",
        ),
        (["monitoring", "grafana", "enabled"], False, "ai-platform:monitoring.grafana.enabled", "Grafana is off"),
        (
            ["monitoring", "kubeStateMetrics", "labels"],
            {"nodes": ["team"]},
            "ai-platform:monitoring.kubeStateMetrics.labels.nodes",
            "ai-platform/gpu-pool",
        ),
        (
            ["monitoring", "kubeStateMetrics", "labels"],
            {"Pods": ["app"]},
            "ai-platform:monitoring.kubeStateMetrics.labels.Pods",
            "resource name",
        ),
        (["monitoring", "workspaces"], "cluster", "ai-platform:monitoring.workspaces", "not an allowed value"),
        (["monitoring", "retention"], 90, "ai-platform:monitoring.retention", "unknown key"),
    ],
)
def test_config_errors_name_the_key(path: list[str], value: Any, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load(_with(path, value))
    text = "\n".join(exc.value.lines)
    assert f"Pulumi.test.yaml: {key}:" in text
    assert words.lower() in text.lower()


def test_dev_may_run_without_monitoring() -> None:
    cfg = load(_with(["monitoring"], {"enabled": False}, {**BASE, "environment": "dev"}))
    assert not cfg.monitoring.enabled


def test_missing_webhook_secret_is_a_config_error_before_anything_registers() -> None:
    with (
        pytest.MonkeyPatch.context() as patch,
        recording_monitors(patch) as monitors,
        pytest.raises(ConfigError) as exc,
    ):
        _run(BASE)  # no secret for pagerUrl
    text = "\n".join(exc.value.lines)
    assert "ai-platform-secrets:pagerUrl" in text
    assert "ai-platform:monitoring.alerts.webhooks.pager.urlSecret" in text
    assert "pulumi config set --secret ai-platform-secrets:pagerUrl" in text
    (monitor,) = monitors
    assert monitor.registrations == []


# ----------------------------------------------------------------------------------------------------------------
# The Prometheus chain
# ----------------------------------------------------------------------------------------------------------------


def test_endpoint_rule_and_flow(plan_documents: dict[str, dict[str, Any]]) -> None:
    for stack, document in plan_documents.items():
        (workspace,) = _resources(document, WORKSPACE)
        dces = {r["inputs"]["location"]: r for r in _resources(document, DCE)}
        (dcr,) = _prometheus_dcrs(document)
        assert dces["westeurope"]["inputs"]["kind"] == "Linux", stack
        inputs = dcr["inputs"]
        assert inputs["kind"] == "Linux"
        assert inputs["location"] == workspace["inputs"]["location"] == "westeurope"
        assert inputs["dataSources"] == {
            "prometheusForwarder": [{"name": "PrometheusDataSource", "streams": ["Microsoft-PrometheusMetrics"]}]
        }
        (account,) = inputs["destinations"]["monitoringAccounts"]
        assert inputs["dataFlows"] == [{"streams": ["Microsoft-PrometheusMetrics"], "destinations": [account["name"]]}]
        # The destination is the workspace's id and the rule uses the endpoint in its region (ids are unknown
        # offline: the dependency says which resource they come from).
        assert workspace["urn"] in dcr["dependencies"]
        assert dces["westeurope"]["urn"] in dcr["dependencies"]
        for name in [
            dcr["inputs"]["dataCollectionRuleName"],
            *(d["inputs"]["dataCollectionEndpointName"] for d in dces.values()),
        ]:
            assert name.startswith("MSProm-"), name
            assert len(name) <= 44, name


def test_every_monitored_cluster_has_both_associations(plan_documents: dict[str, dict[str, Any]]) -> None:
    for stack, document in plan_documents.items():
        clusters = {r["name"].removesuffix("-aks"): r for r in _resources(document, CLUSTER)}
        dces = {r["urn"]: r for r in _resources(document, DCE)}
        (dcr,) = _prometheus_dcrs(document)
        for key, cluster in clusters.items():
            assert cluster["inputs"]["azureMonitorProfile"]["metrics"]["enabled"] is True, stack
            associations = {
                r["inputs"]["associationName"]: r
                for r in _resources(document, DCRA)
                if r["name"].startswith(f"monitoring-{key}-") and not r["name"].endswith("-ci-dcra")
            }
            assert set(associations) == {
                prom_name(cluster["inputs"]["location"], cluster["inputs"]["resourceName"]),
                CONFIG_ACCESS_ASSOCIATION,
            }, stack
            config = associations.pop(CONFIG_ACCESS_ASSOCIATION)
            (rule_assoc,) = associations.values()
            assert "dataCollectionRuleId" in rule_assoc["inputs"]
            assert dcr["urn"] in rule_assoc["dependencies"]
            assert cluster["urn"] in rule_assoc["dependencies"]
            assert "dataCollectionEndpointId" in config["inputs"]
            assert "dataCollectionRuleId" not in config["inputs"]
            (endpoint,) = [dces[u] for u in config["dependencies"] if u in dces]
            # The configuration-access endpoint lives in the cluster's region.
            assert endpoint["inputs"]["location"] == cluster["inputs"]["location"], (stack, key)


def test_prod_northeurope_cluster_gets_its_own_config_endpoint(plan_documents: dict[str, dict[str, Any]]) -> None:
    locations = sorted(r["inputs"]["location"] for r in _resources(plan_documents["prod"], DCE))
    assert locations == ["northeurope", "westeurope"]
    assert len(_resources(plan_documents["prod"], WORKSPACE)) == 1


def test_region_mode_builds_a_chain_per_region(custom: dict[str, Any]) -> None:
    workspaces = {r["inputs"]["location"]: r for r in _resources(custom, WORKSPACE)}
    dcrs = {r["inputs"]["location"]: r for r in _prometheus_dcrs(custom)}
    assert set(workspaces) == set(dcrs) == {"westeurope", "northeurope"}
    for region, dcr in dcrs.items():
        assert workspaces[region]["urn"] in dcr["dependencies"]
    (grafana,) = _resources(custom, GRAFANA)
    integrations = grafana["inputs"]["properties"]["grafanaIntegrations"]["azureMonitorWorkspaceIntegrations"]
    assert len(integrations) == 2
    assert {w["urn"] for w in workspaces.values()} <= set(grafana["dependencies"])


def test_cluster_allow_lists_carry_the_pool_labels(plan_documents: dict[str, dict[str, Any]]) -> None:
    for document in plan_documents.values():
        for cluster in _resources(document, CLUSTER):
            ksm = cluster["inputs"]["azureMonitorProfile"]["metrics"]["kubeStateMetrics"]
            assert ksm["metricLabelsAllowlist"].startswith("nodes=[ai-platform/gpu-pool,ai-platform/color,")


def test_monitoring_switched_off_per_cluster_in_dev() -> None:
    values = _with(["clusters", "neu1", "features"], {"monitoring": False}, {**BASE, "environment": "dev"})
    document = _run(values, {"pagerUrl": "x"})
    profiles = {r["name"]: r["inputs"]["azureMonitorProfile"] for r in _resources(document, CLUSTER)}
    assert profiles["neu1-aks"] == {"metrics": {"enabled": False}}
    assert profiles["weu1-aks"]["metrics"]["enabled"] is True
    names = {r["name"] for r in _resources(document, DCRA)}
    # Prometheus (rule + configuration endpoint) and Container insights, on the monitored cluster only.
    assert names == {"monitoring-weu1-dcra", "monitoring-weu1-dcea", "monitoring-weu1-ci-dcra"}


def test_monitoring_does_not_wait_for_gpu_pools(plan_documents: dict[str, dict[str, Any]]) -> None:
    for stack, document in plan_documents.items():
        pools = {r["urn"] for r in _resources(document, AGENT_POOL)}
        assert pools, stack
        for r in _under_monitoring(document):
            assert not pools & set(r["dependencies"]), (stack, r["name"])


# ----------------------------------------------------------------------------------------------------------------
# Rules and alerts
# ----------------------------------------------------------------------------------------------------------------


def test_every_rule_expression_parses_as_promql(
    plan_documents: dict[str, dict[str, Any]], custom: dict[str, Any]
) -> None:
    count = 0
    for document in [*plan_documents.values(), custom]:
        for group in _resources(document, RULE_GROUP):
            for rule in group["inputs"]["rules"]:
                promql_parser.parse(rule["expression"])
                count += 1
    assert count > 100


def test_standard_recording_rules_azure_dashboards_use() -> None:
    node = {r.record for r in NODE_RECORDING_RULES}
    k8s = {r.record for r in KUBERNETES_RECORDING_RULES}
    assert {
        "instance:node_cpu_utilisation:rate5m",
        "instance:node_memory_utilisation:ratio",
        "instance:node_network_receive_bytes_excluding_lo:rate5m",
    } <= node
    assert {
        "node_namespace_pod_container:container_cpu_usage_seconds_total:sum_irate",
        "node_namespace_pod_container:container_memory_working_set_bytes",
        "namespace_workload_pod:kube_pod_owner:relabel",
        "cluster:node_cpu:ratio_rate5m",
    } <= k8s
    workload_types = {r.labels.get("workload_type") for r in KUBERNETES_RECORDING_RULES if r.labels}
    assert workload_types == {"deployment", "daemonset", "statefulset", "job"}


def test_rule_groups_scope_workspace_and_cluster(plan_documents: dict[str, dict[str, Any]]) -> None:
    document = plan_documents["staging"]
    (workspace,) = _resources(document, WORKSPACE)
    (cluster,) = _resources(document, CLUSTER)
    groups = {r["inputs"]["ruleGroupName"].split("-")[0]: r for r in _resources(document, RULE_GROUP)}
    assert set(groups) == {
        "NodeRecordingRulesRuleGroup",
        "KubernetesRecordingRulesRuleGroup",
        "GpuRecordingRulesRuleGroup",
        "GpuAlertsRuleGroup",
    }
    for group in groups.values():
        inputs = group["inputs"]
        assert len(inputs["scopes"]) == 2
        assert {workspace["urn"], cluster["urn"]} <= set(group["dependencies"])
        assert inputs["interval"] == "PT1M"
        assert inputs["tags"]["environment"] == "staging"
        assert inputs["clusterName"] == cluster["inputs"]["resourceName"]
        assert inputs["ruleGroupName"].endswith(f"-{cluster['inputs']['resourceName']}")


def test_gpu_alerts_and_their_actions(plan_documents: dict[str, dict[str, Any]]) -> None:
    document = plan_documents["staging"]
    (action_group,) = _resources(document, ACTION_GROUP)
    assert action_group["inputs"]["emailReceivers"][0]["emailAddress"] == "platform-oncall@example.com"
    (alerts,) = [g for g in _resources(document, RULE_GROUP) if g["name"].endswith("GpuAlertsRuleGroup")]
    by_name = {r["alert"]: r for r in alerts["inputs"]["rules"]}
    assert set(by_name) == {
        "GpuXidError",
        "GpuHighTemperature",
        "GpuMemoryExhausted",
        "GpuAllocatedIdle",
        "GpuPoolNoReadyNodes",
    }
    assert action_group["urn"] in alerts["dependencies"]
    for rule in alerts["inputs"]["rules"]:
        assert len(rule["actions"]) == 1
        assert 0 <= rule["severity"] <= 4
    assert "DCGM_FI_DEV_XID_ERRORS" in by_name["GpuXidError"]["expression"]
    assert by_name["GpuHighTemperature"]["expression"] == "DCGM_FI_DEV_GPU_TEMP > 85"
    assert "DCGM_FI_DEV_FB_FREE" in by_name["GpuMemoryExhausted"]["expression"]
    assert 'exported_pod!=""' in by_name["GpuAllocatedIdle"]["expression"]
    # Staging's a100 pool: blue active with minCount 1 -> alerted; the green standby is not. The KAITO pool's
    # active colour (minCount 1) is alerted too.
    pools = [r for r in alerts["inputs"]["rules"] if r["alert"] == "GpuPoolNoReadyNodes"]
    assert sorted((r["labels"]["gpu_pool"], r["labels"]["color"]) for r in pools) == [
        ("a100", "blue"),
        ("kaito", "blue"),
    ]
    no_nodes = next(r for r in pools if r["labels"]["gpu_pool"] == "a100")
    assert 'label_ai_platform_gpu_pool="a100"' in no_nodes["expression"]
    assert "or vector(0)" in no_nodes["expression"]


def test_pools_that_may_scale_to_zero_get_no_capacity_alert(plan_documents: dict[str, dict[str, Any]]) -> None:
    (alerts,) = [g for g in _resources(plan_documents["dev"], RULE_GROUP) if g["name"].endswith("GpuAlertsRuleGroup")]
    assert "GpuPoolNoReadyNodes" not in {r["alert"] for r in alerts["inputs"]["rules"]}
    assert all("actions" not in r for r in alerts["inputs"]["rules"])  # dev: no receivers configured


def test_gpu_recording_rules_join_pool_and_namespace() -> None:
    rules = {r.record: r.expression for r in gpu_recording_rules()}
    assert 'label_ai_platform_gpu_pool!=""' in rules["ai_platform:node_gpu_pool:info"]
    assert "group_left(gpu_pool) ai_platform:node_gpu_pool:info" in rules["ai_platform:gpu_pool:gpu_utilization:avg"]
    assert '"namespace", "$1", "exported_namespace"' in rules["ai_platform:namespace:gpu_utilization:avg"]
    assert "DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE" in rules["ai_platform:gpu_pool:memory_used:ratio"]


# ----------------------------------------------------------------------------------------------------------------
# Grafana and access
# ----------------------------------------------------------------------------------------------------------------


def test_grafana_and_role_assignments(custom: dict[str, Any]) -> None:
    (grafana,) = _resources(custom, GRAFANA)
    assert grafana["inputs"]["sku"] == {"name": "Standard"}
    assert grafana["inputs"]["identity"] == {"type": "SystemAssigned"}
    assert grafana["inputs"]["properties"]["apiKey"] == "Disabled"
    monitoring_roles = [r for r in _under_monitoring(custom) if r["type"] == ROLE]
    by_role: dict[str, list[dict[str, Any]]] = {}
    for role in monitoring_roles:
        by_role.setdefault(role["inputs"]["roleDefinitionId"].rsplit("/", 1)[1], []).append(role)
        assert role["inputs"]["roleDefinitionId"].startswith(f"/subscriptions/{SUBSCRIPTION}/providers/")
    workspaces = {r["urn"] for r in _resources(custom, WORKSPACE)}
    readers = by_role[MONITORING_DATA_READER]
    assert len(readers) == 2
    assert all(r["inputs"]["principalType"] == "ServicePrincipal" for r in readers)
    assert all(grafana["urn"] in r["dependencies"] and workspaces & set(r["dependencies"]) for r in readers)
    (admin,) = by_role[GRAFANA_ADMIN]
    (viewer,) = by_role[GRAFANA_VIEWER]
    assert (admin["inputs"]["principalId"], admin["inputs"]["principalType"]) == (ADMINS, "Group")
    assert (viewer["inputs"]["principalId"], viewer["inputs"]["principalType"]) == (VIEWERS, "Group")
    assert grafana["urn"] in admin["dependencies"]
    assert grafana["urn"] in viewer["dependencies"]


def test_webhook_urls_stay_secret(custom: dict[str, Any]) -> None:
    (action_group,) = _resources(custom, ACTION_GROUP)
    (hook,) = action_group["inputs"]["webhookReceivers"]
    assert hook["name"] == "pager"
    assert hook["serviceUri"] == plan_module.SECRET
    assert "https://example.invalid/hook" not in json.dumps(custom)
    assert action_group["inputs"]["groupShortName"] == "aiplatform"


def test_dev_runs_lighter_than_prod(plan_documents: dict[str, dict[str, Any]]) -> None:
    dev, prod = plan_documents["dev"], plan_documents["prod"]
    assert _resources(dev, GRAFANA) == []
    (grafana,) = _resources(prod, GRAFANA)
    assert grafana["inputs"]["properties"]["zoneRedundancy"] == "Enabled"
    assert grafana["protect"] is True
    (dev_ws,) = _resources(dev, WORKSPACE)
    (prod_ws,) = _resources(prod, WORKSPACE)
    assert dev_ws["inputs"]["tags"]["monitoring-mode"] == "light"
    assert prod_ws["inputs"]["tags"]["monitoring-mode"] == "full"
    (dev_dcgm,) = [r for r in _resources(dev, RELEASE) if r["name"].endswith("dcgm-exporter")]
    prod_dcgm = [r for r in _resources(prod, RELEASE) if r["name"].endswith("dcgm-exporter")]
    assert dev_dcgm["inputs"]["values"]["serviceMonitor"]["interval"] == "60s"
    assert {r["inputs"]["values"]["serviceMonitor"]["interval"] for r in prod_dcgm} == {"30s"}


# ----------------------------------------------------------------------------------------------------------------
# DCGM exporter
# ----------------------------------------------------------------------------------------------------------------


def test_dcgm_exporter_release(plan_documents: dict[str, dict[str, Any]]) -> None:
    document = plan_documents["prod"]
    providers = {r["name"]: r["urn"] for r in document["resources"] if r["type"] == "pulumi:providers:kubernetes"}
    releases = {r["name"]: r for r in _resources(document, RELEASE) if r["name"].endswith("dcgm-exporter")}
    assert set(releases) == {"monitoring-weu1-dcgm-exporter", "monitoring-neu1-dcgm-exporter"}
    for name, release in releases.items():
        key = name.split("-")[1]
        inputs = release["inputs"]
        assert release["provider"] == providers[f"{key}-k8s"]
        assert inputs["chart"] == "dcgm-exporter"
        assert inputs["version"] == DCGM_CHART_VERSION
        assert inputs["repositoryOpts"] == {"repo": "https://nvidia.github.io/dcgm-exporter/helm-charts"}
        values = inputs["values"]
        monitor = values["serviceMonitor"]
        assert monitor["enabled"] is True
        assert monitor["apiVersion"] == "azmonitoring.coreos.com/v1"
        assert {
            "sourceLabels": ["__meta_kubernetes_pod_node_name"],
            "targetLabel": "node",
            "action": "replace",
        } in monitor["relabelings"]
        # Both colours: the GPU taint and the standby colour's taint are tolerated.
        assert GPU_TAINTS["nvidia"].toleration() in values["tolerations"]
        assert STANDBY_TAINT.toleration() in values["tolerations"]
        assert SPOT_TAINT.toleration() in values["tolerations"]
        assert values["nodeSelector"] == {"ai-platform/gpu-vendor": "nvidia"}
        # DRA attribution through the chart's own switch (token, env var and RBAC: tests/test_dcgm_chart.py),
        # not an env var alone.
        assert values["kubernetesDRA"] == {"enabled": True}
        assert "extraEnv" not in values
        assert values["serviceAccount"]["name"] == "dcgm-exporter"


def test_dcgm_namespace_is_strictly_valid_and_rbac_comes_from_the_chart(
    plan_documents: dict[str, dict[str, Any]],
) -> None:
    for stack, document in plan_documents.items():
        objects = [
            r["inputs"]
            for r in _under_monitoring(document)
            if r["type"].startswith("kubernetes:") and "kind" in r["inputs"] and "-dcgm-" in r["name"]
        ]
        for obj in objects:
            validate_strict(obj, "1.34")
        # The chart creates the exporter's ClusterRole and binding (kubernetesDRA.enabled); a second,
        # hand-written role would only drift from what the exporter needs.
        assert {o["kind"] for o in objects} == {"Namespace"}, stack
        assert all(o["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged" for o in objects)


# ----------------------------------------------------------------------------------------------------------------
# Names, dashboards, summary
# ----------------------------------------------------------------------------------------------------------------


def test_prom_names_fit_and_stay_distinct() -> None:
    long_a = prom_name("australiasoutheast", "aks-longprefix-staging-cluster01")
    long_b = prom_name("australiasoutheast", "aks-longprefix-staging-cluster02")
    assert len(long_a) <= 44
    assert len(long_b) <= 44
    assert long_a != long_b
    assert long_a.startswith("MSProm-australiasoutheast-")
    assert prom_name("westeurope", "aiplat", "dev") == "MSProm-westeurope-aiplat-dev"


def test_dashboards_query_what_the_rules_record() -> None:
    recorded = {r.record for r in gpu_recording_rules()}
    for name in DASHBOARDS:
        dashboard = json.loads(DASHBOARDS[name].read_text())
        assert dashboard["uid"].startswith("ai-platform-")
        exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
        assert exprs
        for expr in exprs:
            promql_parser.parse(expr)
        if name == "gpu":
            used = {e.split("{")[0] for e in exprs if e.startswith("ai_platform:")}
            assert used
            assert used <= recorded
    command = dashboard_import_command("rg-aiplat-prod-monitoring", "graf-aiplat-prod", "gpu")
    assert command == (
        "az grafana dashboard import --resource-group rg-aiplat-prod-monitoring --name "
        "graf-aiplat-prod --definition components/dashboards/gpu.json --overwrite true"
    )


def test_plan_outputs_and_summary(plans: dict[str, Any]) -> None:
    prod = render_summary(plans["prod"])
    assert "Monitoring\n  mode=full workspaces=stack grafana=on" in prod
    assert "clusters: weu1, neu1" in prod
    dev = render_summary(plans["dev"])
    assert "mode=light" in dev
    assert "grafana=off" in dev
    assert "scrape=60s" in dev
    # prod deploys its dashboards (grafana.dashboards: true): no import commands; dev has no Grafana.
    assert "grafanaDashboardImports" not in plans["prod"].outputs
    assert "dashboards: deployed into Grafana by a workload-identity job" in prod
    assert "grafanaDashboardImports" not in plans["dev"].outputs
