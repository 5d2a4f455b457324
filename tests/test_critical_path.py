"""The deploy critical path, and "no add-on waits for what it does not need" on every shipped stack."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from stacks.critical_path import CREATE_MINUTES, critical_path, prerequisites
from stacks.plan import Plan
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
