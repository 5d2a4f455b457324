"""The plan document (platform-plan/v1) is a contract: its shape is tested, not just produced."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from stacks.__main__ import main
from stacks.plan import exit_code, run_plan
from stacks.rehearsal import rehearse

RESOURCE_KEYS = {
    "urn",
    "type",
    "name",
    "parent",
    "custom",
    "inputs",
    "dependencies",
    "protect",
    "ignoreChanges",
    "provider",
    "retainOnDelete",
    "customTimeouts",
    "replaceOnChanges",
    "deleteBeforeReplace",
    "aliases",
}
FINDING_KINDS = {"awaitTimeout", "unschedulable", "beforeApiAccess"}


def test_every_shipped_stack_plans(plans) -> None:
    assert set(plans) == {"dev", "staging", "prod"}
    for stack, plan in plans.items():
        assert plan.stack == stack
        assert any(r.type == "azure-native:containerservice:ManagedCluster" for r in plan.resources)


def test_document_shape(plan_documents) -> None:
    for stack, document in plan_documents.items():
        assert document["schema"] == "platform-plan/v1"
        assert document["project"] == "ai-platform"
        assert document["stack"] == stack
        assert set(document) >= {
            "environment",
            "resources",
            "policyViolations",
            "policy",
            "cost",
            "criticalPath",
            "rehearsal",
            "outputs",
        }
        assert document["environment"] == stack
        assert document["criticalPath"]["minutes"] >= document["criticalPath"]["lowerBoundMinutes"] > 0
        assert isinstance(document["cost"]["monthlyUsd"], (int, float))
        assert isinstance(document["cost"]["items"], list)
        json.dumps(document)  # serializable as-is
        urns = {r["urn"] for r in document["resources"]}
        assert len(urns) == len(document["resources"]), "URNs are unique"
        for resource in document["resources"]:
            assert set(resource) >= RESOURCE_KEYS
            assert resource["urn"].startswith(f"urn:pulumi:{stack}::ai-platform::")
            assert resource["urn"].endswith(f"::{resource['name']}")
            assert (
                resource["parent"] is None
                or resource["parent"] in urns
                or resource["parent"].endswith("pulumi:pulumi:Stack::ai-platform-" + stack)
            )
            assert set(resource["dependencies"]) <= urns
            assert isinstance(resource["protect"], bool)
            assert isinstance(resource["inputs"], dict)


def test_inputs_are_camel_case_wire_names(plan_documents) -> None:
    cluster = next(
        r for r in plan_documents["dev"]["resources"] if r["type"] == "azure-native:containerservice:ManagedCluster"
    )
    assert "networkProfile" in cluster["inputs"]
    assert "network_profile" not in cluster["inputs"]
    assert cluster["inputs"]["networkProfile"]["dnsServiceIP"] == "172.16.0.10"


def test_unknowns_are_null_and_secrets_masked(plan_documents) -> None:
    document = plan_documents["dev"]
    pool = next(r for r in document["resources"] if r["type"] == "azure-native:containerservice:AgentPool")
    assert pool["inputs"]["resourceGroupName"] is None  # output of the resource group: unknown in a preview
    assert document["outputs"]["weu1Kubeconfig"] == "[secret]"
    assert document["outputs"]["weu1ClusterName"] == "aks-aiplat-dev-weu1"
    assert "[secret]" not in json.dumps(pool)


def test_component_parents_are_recorded(plan_documents) -> None:
    document = plan_documents["dev"]
    by_name = {r["name"]: r for r in document["resources"]}
    assert by_name["weu1-aks"]["parent"] == by_name["weu1"]["urn"]
    assert by_name["weu1"]["custom"] is False
    assert by_name["weu1-network-vnet"]["parent"] == by_name["weu1-network"]["urn"]


def test_cli_writes_json_and_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "plan.json"
    code = main(["plan", "dev", "--json", str(target)])
    document = json.loads(target.read_text())
    out = capsys.readouterr().out
    assert code == exit_code(document["policyViolations"], document["rehearsal"]["findings"])
    assert document["stack"] == "dev"
    assert "Offline plan: project ai-platform, stack dev" in out
    assert "weu1/a100blue" in out
    assert "ACTIVE" in out


def test_plans_are_deterministic() -> None:
    first = run_plan("staging").to_json()
    second = run_plan("staging").to_json()
    assert first == second


def test_custom_timeouts_are_recorded(plan_documents) -> None:
    for document in plan_documents.values():
        for resource in document["resources"]:
            assert set(resource["customTimeouts"]) <= {"create", "update", "delete"}
        pools = [r for r in document["resources"] if r["type"] == "azure-native:containerservice:AgentPool"]
        clusters = [r for r in document["resources"] if r["type"] == "azure-native:containerservice:ManagedCluster"]
        # Cluster and pool operations take longer than the provider's defaults (components/cluster.py, gpu_pools.py).
        assert pools
        assert clusters
        assert all(r["customTimeouts"].get("create") == "60m" for r in pools + clusters)


def test_rehearsal_section_shape(plan_documents) -> None:
    for document in plan_documents.values():
        rehearsal = document["rehearsal"]
        urns = {r["urn"] for r in document["resources"]}
        assert set(rehearsal) == {"findings", "gpuWorkloads", "weightDownloads", "awaits", "timeTable"}
        for finding in rehearsal["findings"]:
            assert set(finding) == {"kind", "severity", "urn", "name", "message"}
            assert finding["kind"] in FINDING_KINDS
            assert finding["severity"] == "error"
            assert finding["urn"] in urns
        for workload in rehearsal["gpuWorkloads"]:
            assert workload["urn"] in urns
            phases = {"imagePull", "weightDownload", "weightLoad"}
            # KAITO Workspaces and RayServices add the operator's start (components/serving/timing.py).
            operated = workload["name"].endswith(("-workspace", "-rayservice"))
            assert set(workload["phaseMinutes"]) == phases | ({"runtimeStart"} if operated else set())
            if workload["readyMinute"] is not None:
                assert workload["readyMinute"] >= workload["nodeReadyMinute"] >= 0
        awaited = {a["urn"]: a for a in rehearsal["awaits"]}
        assert set(awaited) <= urns
        for urn, entry in awaited.items():
            assert entry["timeoutMinutes"] > 0
            assert entry["timeoutSource"]
            late = entry["awaitMinutes"] is None or entry["awaitMinutes"] > entry["timeoutMinutes"]
            assert late == any(f["urn"] == urn and f["kind"] == "awaitTimeout" for f in rehearsal["findings"])
        table = rehearsal["timeTable"]
        figures = [f for group in ("createMinutes", "rates", "defaultAwaitMinutes") for f in table[group].values()]
        assert figures
        assert all(isinstance(f["value"], (int, float)) and f["source"] for f in figures)
        cp = document["criticalPath"]
        if rehearsal["gpuWorkloads"] and any(w["readyMinute"] for w in rehearsal["gpuWorkloads"]):
            assert cp["physicalChainMinutes"] > 0
            assert cp["physicalRatio"] == pytest.approx(cp["minutes"] / cp["physicalChainMinutes"], abs=0.001)


def test_rehearsal_errors_fail_the_plan(plan_documents) -> None:
    # An edited prod plan: the model's await cut to one minute.
    document = copy.deepcopy(plan_documents["prod"])
    deployment = next(r for r in document["resources"] if r["type"] == "kubernetes:apps/v1:Deployment")
    deployment["customTimeouts"] = {"create": "1m"}
    deployment["inputs"]["metadata"].pop("annotations", None)
    findings = [f.to_json() for f in rehearse(document["resources"]).findings]
    assert any(f["kind"] == "awaitTimeout" and f["urn"] == deployment["urn"] for f in findings)
    assert exit_code([], findings) == 1
    assert exit_code([{"enforcement": "advisory"}], []) == 0
    assert exit_code([{"enforcement": "mandatory"}], []) == 1


def test_immutable_dra_specs_are_replaced_not_updated(plan_documents) -> None:
    """ResourceClaim(Template) specs are immutable: a spec change must plan as a replacement."""
    for stack, document in plan_documents.items():
        claims = [
            r
            for r in document["resources"]
            if r["type"].split(":")[-1] in {"ResourceClaimTemplate", "ResourceClaim"} and "-dra-" in r["name"]
        ]
        assert claims, stack
        for r in claims:
            assert (r["replaceOnChanges"], r["deleteBeforeReplace"]) == (["spec"], True), r["name"]


SERVING_ROW_KEYS = {
    "model",
    "pool",
    "profile",
    "gpus",
    "monthlyUsd",
    "kvCacheTokens",
    "maxSequences",
    "decodeTokensPerSecond",
    "sequenceTokensPerSecond",
    "usdPerMillionTokens",
    "gpuBandwidthGBs",
}


def test_serving_section_has_throughput_cost_per_token_and_the_bound(plan_documents) -> None:
    """``cost.serving`` (docs/plan-document.md): per model throughput and USD per million tokens, and the packing's
    GPUs beside ceil(total memory / GPU memory)."""
    for stack, document in plan_documents.items():
        serving = document["cost"]["serving"]
        assert serving["models"], stack
        for row in serving["models"]:
            assert set(row) >= SERVING_ROW_KEYS, stack
            assert row["decodeTokensPerSecond"] > 0
            assert row["usdPerMillionTokens"] > 0
            assert row["maxSequences"] >= 1
        assert serving["gpusNeeded"] >= serving["lowerBoundGpus"] >= 1
        assert serving["gpusAboveBound"] == serving["gpusNeeded"] - serving["lowerBoundGpus"]
        assert serving["lowerBoundGpus"] == sum(b["gpus"] for b in serving["lowerBounds"].values())
        assert set(serving["throughputAssumptions"]) == {
            "decodeEfficiency",
            "meanContextFraction",
            "costUtilisation",
            "batch",
        }
