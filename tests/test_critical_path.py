"""The deploy critical path, and "no add-on waits for what it does not need" on every shipped stack."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from stacks.critical_path import CREATE_MINUTES, RATES, critical_path, prerequisites
from stacks.placement import cel_matches
from stacks.plan import Plan
from stacks.rehearsal import RAY_SERVICE, WORKSPACE, await_timeout, rehearse
from stacks.summary import render_summary
from tests.conftest import SHIPPED_STACKS

CLUSTER = "azure-native:containerservice:ManagedCluster"
POOL = "azure-native:containerservice:AgentPool"
RELEASE = "kubernetes:helm.sh/v3:Release"
MONITORING_MODULES = {"monitor", "insights", "alertsmanagement", "dashboard"}


def res(
    name: str, type_: str, *deps: str, parent: str | None = None, provider: str | None = None, custom: bool = True
) -> dict[str, Any]:
    """A plan resource entry; names double as URNs to keep hand-made plans readable."""
    return {
        "urn": name,
        "type": type_,
        "name": name,
        "parent": parent,
        "custom": custom,
        "dependencies": list(deps),
        "provider": provider,
    }


def component(name: str, *deps: str, parent: str | None = None) -> dict[str, Any]:
    return res(name, "aiplatform:index:Thing", *deps, parent=parent, custom=False)


# --- the algorithm on small hand-made plans ---------------------------------------------------------


def test_chain_of_cluster_and_serialized_pools_adds_up() -> None:
    plan = [
        res("rg", "azure-native:resources:ResourceGroup"),
        res("aks", CLUSTER, "rg"),
        res("pool1", POOL, "aks"),
        res("pool2", POOL, "aks", "pool1"),
    ]
    cp = critical_path(plan)
    assert [s.name for s in cp.chain] == ["rg", "aks", "pool1", "pool2"]
    assert cp.minutes == pytest.approx(0.1 + 10 + 6 + 6)
    assert cp.lower_bound_minutes == 10
    assert cp.lower_bound is not None
    assert cp.lower_bound.name == "aks"
    assert cp.ratio == pytest.approx(22.1 / 10)
    assert [(s.start, s.finish) for s in cp.chain][-1] == (pytest.approx(16.1), pytest.approx(22.1))


def test_independent_branches_run_in_parallel() -> None:
    plan = [
        res("aks", CLUSTER),
        res("pool1", POOL, "aks"),
        res("pool2", POOL, "aks"),
        res("aks2", CLUSTER),
        res("pool3", POOL, "aks2"),
    ]
    cp = critical_path(plan)
    assert cp.minutes == pytest.approx(16)
    assert cp.serial_minutes == pytest.approx(10 + 6 + 6 + 10 + 6)


def test_release_waits_for_cluster_through_its_provider() -> None:
    plan = [
        res("aks", CLUSTER),
        res("k8s", "pulumi:providers:kubernetes", "aks"),
        res("chart", RELEASE, provider="k8s::04da6b54-80e4-46f7-96ec-b56ff0331ba9"),
    ]
    cp = critical_path(plan)
    assert [s.name for s in cp.chain] == ["aks", "k8s", "chart"]
    assert cp.minutes == pytest.approx(10 + CREATE_MINUTES[RELEASE])
    assert prerequisites(plan)["chart"] == {"aks", "k8s"}


def test_depending_on_a_component_waits_for_its_children() -> None:
    plan = [
        component("pools"),
        res("pool", POOL, parent="pools"),
        res("after", "azure-native:resources:ResourceGroup", "pools"),
    ]
    cp = critical_path(plan)
    assert [s.name for s in cp.chain] == ["pool", "after"]
    assert cp.minutes == pytest.approx(6.1)
    assert "pool" in prerequisites(plan)["after"]


def test_children_start_after_their_component_starts() -> None:
    plan = [res("aks", CLUSTER), component("addons", "aks"), res("cm", "kubernetes:core/v1:ConfigMap", parent="addons")]
    cp = critical_path(plan)
    assert [s.name for s in cp.chain] == ["aks", "cm"]
    assert prerequisites(plan)["cm"] == {"aks"}


def test_unknown_dependencies_and_empty_plans_are_harmless() -> None:
    assert critical_path([]).minutes == 0
    cp = critical_path([res("rg", "azure-native:resources:ResourceGroup", "urn:outside:the:plan")])
    assert cp.minutes == pytest.approx(0.1)


def test_a_cycle_is_reported() -> None:
    with pytest.raises(ValueError, match="cycle"):
        critical_path([res("a", POOL, "b"), res("b", POOL, "a")])


def test_checker_catches_a_chart_that_waits_for_a_pool() -> None:
    # A chart whose component depends on the whole GPU-pools component waits for every pool: the
    # shipped-stack checks below must be able to see that.
    plan = [
        res("aks", CLUSTER),
        component("gpu"),
        res("pool", POOL, "aks", parent="gpu"),
        res("k8s", "pulumi:providers:kubernetes", "aks"),
        component("addons", "pool"),
        res("chart", RELEASE, parent="addons", provider="k8s::id"),
    ]
    assert _waits_on_pools(plan, "chart") == ["pool"]
    assert critical_path(plan).minutes == pytest.approx(10 + 6 + 2)


# --- every shipped stack -------------------------------------------------------------------------------


def _waits_on_pools(resources: list[dict[str, Any]], urn: str) -> list[str]:
    types = {r["urn"]: r["type"] for r in resources}
    return sorted(p for p in prerequisites(resources)[urn] if types[p] == POOL)


def _is_monitoring(resource: dict[str, Any], by_urn: dict[str, dict[str, Any]]) -> bool:
    parts = resource["type"].split(":")
    if parts[0] == "azure-native" and parts[1] in MONITORING_MODULES:
        return True
    parent = resource.get("parent")
    while parent in by_urn:
        ancestor = by_urn[parent]
        if not ancestor["custom"] and any(w in ancestor["type"].lower() for w in ("monitor", "observab")):
            return True
        parent = ancestor.get("parent")
    return False


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_charts_and_kubernetes_objects_do_not_wait_for_agent_pools(
    stack: str, plan_documents: dict[str, dict[str, Any]]
) -> None:
    resources = plan_documents[stack]["resources"]
    in_cluster = [r for r in resources if r["custom"] and r["type"].startswith("kubernetes:")]
    if not in_cluster:
        pytest.skip(f"{stack}: no Helm releases or Kubernetes objects in this plan yet")
    waits = prerequisites(resources)
    types = {r["urn"]: r["type"] for r in resources}
    offenders = {
        r["name"]: sorted(
            types[p].rsplit(":", 1)[-1] + " " + p.rsplit("::", 1)[-1] for p in waits[r["urn"]] if types[p] == POOL
        )
        for r in in_cluster
        # A model server (Deployment, KAITO Workspace, RayService) waits for the one pool its pods are placed on
        # (components/serving/workload.py), and so does a weight-cache fill Job, which runs there
        # (components/serving/cache.py).
        if r["type"] not in ("kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:Job", WORKSPACE, RAY_SERVICE)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_monitoring_does_not_wait_for_agent_pools(stack: str, plan_documents: dict[str, dict[str, Any]]) -> None:
    resources = plan_documents[stack]["resources"]
    by_urn = {r["urn"]: r for r in resources}
    monitoring = [r for r in resources if r["custom"] and _is_monitoring(r, by_urn)]
    if not monitoring:
        pytest.skip(f"{stack}: no monitoring resources in this plan yet")
    offenders = {r["name"]: _waits_on_pools(resources, r["urn"]) for r in monitoring}
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_plan_reports_a_consistent_critical_path(stack: str, plan_documents: dict[str, dict[str, Any]]) -> None:
    cp = plan_documents[stack]["criticalPath"]
    chain = cp["chain"]
    types = [s["type"] for s in chain]
    # A first deploy cannot be faster than creating a cluster, and the chain goes through one.
    assert CLUSTER in types
    assert cp["lowerBoundMinutes"] == CREATE_MINUTES[CLUSTER]
    assert cp["minutes"] >= cp["lowerBoundMinutes"]
    assert chain[0]["startMinute"] == 0
    assert chain[-1]["finishMinute"] == pytest.approx(cp["minutes"], abs=0.01)
    for before, after in itertools.pairwise(chain):
        assert after["startMinute"] == pytest.approx(before["finishMinute"], abs=0.01)
    urns = {r["urn"] for r in plan_documents[stack]["resources"]}
    assert {s["urn"] for s in chain} <= urns


def test_summary_shows_the_critical_path(plans: dict[str, Plan]) -> None:
    text = render_summary(plans["prod"])
    assert "Deploy critical path" in text
    assert "ManagedCluster" in text.split("Deploy critical path", 1)[1]


# --- the first-deploy rehearsal (stacks/rehearsal.py) ---------------------------------------------------

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
ADMIN_ROLE = "/subscriptions/{unknown}/providers/Microsoft.Authorization/roleDefinitions/" + (
    "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
)
H100_CEL = (
    "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].productName == 'NVIDIA H100 NVL' "
    "&& device.attributes['gpu.nvidia.com'].type == 'gpu'"
)
A100_MIG_CEL = (
    "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].productName == 'NVIDIA A100 80GB PCIe' "
    "&& device.attributes['gpu.nvidia.com'].type == 'mig' && device.attributes['gpu.nvidia.com'].profile == '1g.10gb'"
)


def obj(name: str, type_: str, *deps: str, inputs: dict[str, Any], timeouts: dict[str, str] | None = None, **kw: Any):
    return {**res(name, type_, *deps, **kw), "inputs": inputs, "customTimeouts": timeouts or {}}


def gpu_plan(
    *,
    timeout: str | None = "30m",
    colour: str = "blue",
    tolerate: bool = True,
    device_cel: str = H100_CEL,
    devices: int = 1,
    max_count: int = 4,
    grant: str | None = ADMIN_ROLE,
    wait: bool = True,
    admin_groups: bool = False,
    waits_for_pool: bool = True,
) -> list[dict[str, Any]]:
    """A one-cluster, one-pool, one-model plan: correct by default, each keyword breaks one thing."""
    aad = {"managed": True, "enableAzureRBAC": True, **({"adminGroupObjectIDs": ["a-group"]} if admin_groups else {})}
    system = {"name": "system", "vmSize": "Standard_D8ds_v5", "enableAutoScaling": True, "minCount": 3, "maxCount": 6}
    labels = {"ai-platform/gpu-pool": "h100", "ai-platform/color": "blue", "ai-platform/gpu-allocation": "dra"}
    plan = [
        obj("rg", "azure-native:resources:ResourceGroup", inputs={}),
        obj("aks", CLUSTER, "rg", inputs={"aadProfile": aad, "agentPoolProfiles": [system]}),
        obj(
            "h100blue",
            POOL,
            "aks",
            inputs={
                "agentPoolName": "h100blue",
                "vmSize": "Standard_NC40ads_H100_v5",
                "enableAutoScaling": True,
                "minCount": min(1, max_count),
                "maxCount": max_count,
                "count": min(1, max_count),
                "nodeLabels": labels,
                "nodeTaints": ["nvidia.com/gpu=present:NoSchedule"],
            },
            timeouts={"create": "60m"},
        ),
    ]
    provider_deps = ["aks"]
    if grant:
        plan.append(
            obj(
                "deployer-admin", "azure-native:authorization:RoleAssignment", "aks", inputs={"roleDefinitionId": grant}
            )
        )
        provider_deps.append("deployer-admin")
        if wait:
            plan.append(obj("rbac-wait", "pulumi-python:dynamic:Resource", "deployer-admin", inputs={}))
            provider_deps.append("rbac-wait")
    plan.append(obj("k8s", "pulumi:providers:kubernetes", *provider_deps, inputs={}))
    k8s = {"provider": "k8s"}
    plan += [
        obj(
            "class",
            "kubernetes:resource.k8s.io/v1:DeviceClass",
            **k8s,
            inputs={"metadata": {"name": "h100.gpu"}, "spec": {"selectors": [{"cel": {"expression": device_cel}}]}},
        ),
        obj(
            "claim",
            "kubernetes:resource.k8s.io/v1:ResourceClaimTemplate",
            "class",
            **k8s,
            inputs={
                "metadata": {"name": "m-gpu", "namespace": "inference"},
                "spec": {
                    "spec": {
                        "devices": {
                            "requests": [{"name": "gpu", "exactly": {"deviceClassName": "h100.gpu", "count": devices}}]
                        }
                    }
                },
            },
        ),
    ]
    pod = {
        "nodeSelector": {"ai-platform/gpu-pool": "h100", "ai-platform/color": colour},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}]
        if tolerate
        else [],
        "resourceClaims": [{"name": "gpu", "resourceClaimTemplateName": "m-gpu"}],
        "containers": [
            {
                "name": "vllm",
                "image": "vllm/vllm-openai:v0.12.0",
                "args": ["--model", "example/not-in-the-catalog"],
                "volumeMounts": [{"name": "models", "mountPath": "/models"}],
            }
        ],
        "volumes": [{"name": "models", "emptyDir": {"sizeLimit": "100Gi"}}],
    }
    template = {"metadata": {"labels": {"app": "m"}}, "spec": pod}
    deploy_deps = ["claim", *(["h100blue"] if waits_for_pool else [])]
    timeouts = {"create": timeout} if timeout else {}
    plan += [
        obj(
            "m",
            DEPLOYMENT,
            *deploy_deps,
            **k8s,
            timeouts=timeouts,
            inputs={"metadata": {"name": "m", "namespace": "inference"}, "spec": {"replicas": 1, "template": template}},
        ),
        obj(
            "m-svc",
            "kubernetes:core/v1:Service",
            "m",
            **k8s,
            inputs={"metadata": {"name": "m", "namespace": "inference"}, "spec": {"selector": {"app": "m"}}},
        ),
    ]
    return plan


def kinds_of(plan: list[dict[str, Any]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for f in rehearse(plan).findings:
        found.setdefault(f.name, set()).add(f.kind)
    return found


def test_a_correct_plan_has_no_rehearsal_problem_and_shows_when_the_model_is_ready() -> None:
    plan = gpu_plan()
    rehearsal = rehearse(plan)
    assert rehearsal.findings == []
    (workload,) = rehearsal.workloads
    assert workload.pools == ["h100blue"]
    # 100 GiB of weights at the table's rates, after the pool (cluster 10 + pool 6 after the 0.1 min group)
    # and the DRA plugin on the new node.
    assert workload.node_ready == pytest.approx(16.1 + RATES["draPluginMinutes"].value)
    phases = workload.phases
    assert phases["weightDownload"] == pytest.approx(100 * 1024 / RATES["weightDownloadMiBps"].value / 60)
    assert workload.ready == pytest.approx(workload.node_ready + sum(phases.values()))
    cp = rehearsal.critical_path
    assert [s.name for s in cp.chain][-2:] == ["m", "m-svc"]
    assert cp.physical_minutes == pytest.approx(0.1 + 10 + 6 + RATES["draPluginMinutes"].value + sum(phases.values()))


def test_an_await_shorter_than_the_model_load_is_an_error() -> None:
    assert kinds_of(gpu_plan(timeout=None)) == {"m": {"awaitTimeout"}}  # pulumi-kubernetes' 10 min default
    assert kinds_of(gpu_plan(timeout="12m")) == {"m": {"awaitTimeout"}}
    message = next(f.message for f in rehearse(gpu_plan(timeout=None)).findings)
    assert "awaited for 10.0 min" in message


def test_pods_wait_for_their_pool_even_when_the_program_does_not_say_so() -> None:
    rehearsal = rehearse(gpu_plan(waits_for_pool=False, timeout="20m"))
    (workload,) = rehearsal.workloads
    assert workload.start < 16.1  # created as soon as its provider is ready ...
    assert workload.node_ready == pytest.approx(16.1 + RATES["draPluginMinutes"].value)  # ... pods wait for nodes
    await_minutes = workload.ready - workload.start
    assert await_minutes > 20 - 5  # the pool wait counts against the await
    assert kinds_of(gpu_plan(waits_for_pool=False, timeout="16m")) == {"m": {"awaitTimeout"}}


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        ({"colour": "green"}, "node selector does not match"),
        ({"tolerate": False}, "untolerated taint nvidia.com/gpu=present:NoSchedule"),
        ({"device_cel": A100_MIG_CEL}, "are not h100.gpu"),
        ({"devices": 2}, "2 x h100.gpu per pod, 1 per node"),
        ({"max_count": 0}, "maxCount 0"),
    ],
)
def test_a_workload_no_pool_can_take_is_unschedulable(broken: dict[str, Any], reason: str) -> None:
    rehearsal = rehearse(gpu_plan(**broken))
    unschedulable = [f for f in rehearsal.findings if f.kind == "unschedulable"]
    assert [f.name for f in unschedulable] == ["m"]
    assert reason in unschedulable[0].message
    assert rehearsal.workloads[0].ready is None
    kinds = kinds_of(gpu_plan(**broken))
    assert "awaitTimeout" in kinds["m"]  # never ready: its await gives up ...
    assert kinds["m-svc"] == {"awaitTimeout"}  # ... and so does its Service's (no ready pod to target)


@pytest.mark.parametrize(
    ("broken", "why"),
    [
        ({"wait": False}, "not after a wait for Azure RBAC propagation"),
        ({"grant": None}, "before anyone is granted access"),
        (
            {
                "grant": ADMIN_ROLE.replace(
                    "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b", "4d97b98b-1d4f-4787-a291-c67834d212e7"
                )
            },
            "before anyone is granted access",
        ),
    ],
)
def test_kubernetes_objects_before_api_access_are_errors(broken: dict[str, Any], why: str) -> None:
    findings = [f for f in rehearse(gpu_plan(**broken)).findings if f.kind == "beforeApiAccess"]
    assert {f.name for f in findings} == {"class", "claim", "m", "m-svc"}
    assert all(why in f.message for f in findings)


def test_admin_groups_from_config_count_as_api_access() -> None:
    assert kinds_of(gpu_plan(grant=None, admin_groups=True)) == {}


def test_device_class_selectors_are_evaluated_against_the_pool_hardware() -> None:
    h100 = {"driver": "gpu.nvidia.com", "productName": "NVIDIA H100 NVL", "type": "gpu"}
    assert cel_matches(H100_CEL, h100) is True
    assert cel_matches(A100_MIG_CEL, h100) is False
    assert cel_matches("device.attributes['gpu.nvidia.com'].productName.startsWith('NVIDIA')", h100) is None


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_kubernetes_objects_wait_for_their_cluster_through_the_provider(
    stack: str, plan_documents: dict[str, dict[str, Any]]
) -> None:
    # The plan records a provider by its URN: the graph must still see the provider (and so the cluster).
    resources = plan_documents[stack]["resources"]
    waits = prerequisites(resources)
    clusters = {r["urn"] for r in resources if r["type"] == CLUSTER}
    in_cluster = [r for r in resources if r["custom"] and r["type"].startswith("kubernetes:")]
    assert in_cluster
    assert [r["name"] for r in in_cluster if not waits[r["urn"]] & clusters] == []


def test_switching_the_model_to_a_colour_with_no_pool_is_unschedulable(plan_documents: dict[str, Any]) -> None:
    # An edited prod plan: the model's pods pinned to the green colour of its pool group, which has no pool.
    resources = copy.deepcopy(plan_documents["prod"]["resources"])
    deployment = next(r for r in resources if r["type"] == DEPLOYMENT)
    deployment["inputs"]["spec"]["template"]["spec"]["nodeSelector"]["ai-platform/color"] = "green"
    found = [f for f in rehearse(resources).findings if f.kind == "unschedulable"]
    assert [f.urn for f in found] == [deployment["urn"]]
    assert "h100blue: node selector does not match its labels" in found[0].message


def test_timeouts_follow_pulumi_kubernetes_precedence() -> None:
    deployment = obj("d", DEPLOYMENT, inputs={"metadata": {"annotations": {"pulumi.com/timeoutSeconds": "1800"}}})
    assert await_timeout(deployment) == (30, "pulumi.com/timeoutSeconds")
    assert await_timeout({**deployment, "customTimeouts": {"create": "1h30m"}}) == (90, "customTimeouts.create")
    skipped = obj("d", DEPLOYMENT, inputs={"metadata": {"annotations": {"pulumi.com/skipAwait": "true"}}})
    assert await_timeout(skipped)[0] is None
    release = obj("r", RELEASE, inputs={"atomic": True})
    assert await_timeout(release)[0] == 5  # 300 s
    assert await_timeout(obj("r", RELEASE, inputs={"timeout": 900}))[0] == 15
    assert await_timeout(obj("r", RELEASE, inputs={"skipAwait": True}))[0] is None
    assert await_timeout(obj("p", POOL, inputs={}, timeouts={"create": "60m"})) == (60, "customTimeouts.create")
    assert await_timeout(obj("p", POOL, inputs={}))[0] is None  # the provider's own default: not judged


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_shipped_stacks_rehearse_a_first_deploy_without_problems(
    stack: str, plan_documents: dict[str, dict[str, Any]]
) -> None:
    rehearsal = plan_documents[stack]["rehearsal"]
    assert [f["message"] for f in rehearsal["findings"]] == []
    assert rehearsal["gpuWorkloads"]
    assert all(w["readyMinute"] is not None for w in rehearsal["gpuWorkloads"])


def test_prod_first_deploy_is_within_115_percent_of_the_physical_chain(plan_documents: dict[str, Any]) -> None:
    cp = plan_documents["prod"]["criticalPath"]
    assert cp["physicalChainMinutes"] > 0
    assert cp["minutes"] <= 1.15 * cp["physicalChainMinutes"]
