"""Renaming a GPU pool group: ``renamedFrom`` keeps every pool (and everything placed on it) as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.plan import run_plan
from tests.conftest import ROOT
from tests.helpers import changed, config_errors
from tests.test_dra import BASE

AGENT_POOL = "azure-native:containerservice:AgentPool"
RENAMES = {"h100": "hopper", "a100": "ampere", "h100mn": "hoppmn"}
"""prod's weu1 groups: h100 serves the chat-70b model (node selectors, quota), a100 the MIG profile, h100mn the
multi-node qwen-72b (its ``pool`` pin follows the rename)."""


def _prod_with_weu1_groups_renamed(tmp_path: Path, name: str, renamed_from: bool) -> Path:
    document = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    pools = document["config"]["ai-platform:clusters"]["weu1"]["gpuPools"]
    for old, new in RENAMES.items():
        group = pools.pop(old)
        if renamed_from:
            group["renamedFrom"] = old
        pools[new] = group
    for model in document["config"]["ai-platform:models"].values():
        if model.get("cluster") == "weu1" and model.get("pool") in RENAMES:
            model["pool"] = RENAMES[model["pool"]]
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _resources(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["urn"]: r for r in document["resources"]}


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    tmp_path = tmp_path_factory.mktemp("renames")
    return {
        "aliased": run_plan("prod", _prod_with_weu1_groups_renamed(tmp_path, "aliased", True)).to_json(),
        "bare": run_plan("prod", _prod_with_weu1_groups_renamed(tmp_path, "bare", False)).to_json(),
    }


def test_rename_with_renamed_from_changes_no_resource(
    plan_documents: dict[str, dict[str, Any]], renamed: dict[str, dict[str, Any]]
) -> None:
    before, after = _resources(plan_documents["prod"]), _resources(renamed["aliased"])
    # Same URNs (so Pulumi sees the same resources: no alias needed, nothing created or deleted) ...
    assert set(after) == set(before)
    # ... and the same inputs, dependencies and options: the AgentPools keep their Azure names and labels,
    # the model servers their node selectors, the alert rules their pool label.
    changed_urns = [urn for urn, r in after.items() if r != before[urn]]
    assert changed_urns == []
    pools = {r["inputs"]["agentPoolName"]: r for r in after.values() if r["type"] == AGENT_POOL}
    assert {"h100blue", "a100green", "h100mnblue"} <= set(pools)
    assert pools["h100blue"]["inputs"]["nodeLabels"]["ai-platform/gpu-pool"] == "h100"
    assert renamed["aliased"]["policyViolations"] == plan_documents["prod"]["policyViolations"]


def test_rename_without_renamed_from_would_replace_the_serving_pools(
    plan_documents: dict[str, dict[str, Any]], renamed: dict[str, dict[str, Any]]
) -> None:
    def weu1_pools(document: dict[str, Any]) -> set[str]:
        return {
            r["inputs"]["agentPoolName"]
            for r in document["resources"]
            if r["type"] == AGENT_POOL and "::weu1-gpu-" in r["urn"]
        }

    assert weu1_pools(plan_documents["prod"]) == {"h100blue", "a100green", "h100mnblue"}
    # What `pulumi up` would do without renamedFrom: delete h100blue/a100green (serving) and create new pools.
    assert weu1_pools(renamed["bare"]) == {"hopperblue", "amperegreen", "hoppmnblue"}


RENAMED_T4 = {
    "active": "blue",
    "renamedFrom": "t4",
    "slots": {"blue": {"vmSize": "Standard_NC8as_T4_v3", "maxCount": 2}},
}


@pytest.mark.parametrize(
    ("pools", "key", "words"),
    [
        (
            {"t4": {**RENAMED_T4}, "a100": BASE["clusters"]["c1"]["gpuPools"]["a100"]},
            "ai-platform:clusters.c1.gpuPools.t4.renamedFrom",
            "is the group's own key",
        ),
        (
            {"x": {**RENAMED_T4, "renamedFrom": "a100"}, "a100": BASE["clusters"]["c1"]["gpuPools"]["a100"]},
            "ai-platform:clusters.c1.gpuPools.x.renamedFrom",
            "is also the pool id of group a100",
        ),
        (
            {"x": {**RENAMED_T4, "renamedFrom": "t4toolong"}, "a100": BASE["clusters"]["c1"]["gpuPools"]["a100"]},
            "ai-platform:clusters.c1.gpuPools.x.renamedFrom",
            "wrong format",
        ),
    ],
)
def test_impossible_renames_are_config_errors(pools: dict[str, Any], key: str, words: str) -> None:
    errors = config_errors(changed(BASE, ["clusters", "c1", "gpuPools"], pools))
    line = next((e for e in errors if f" {key}: " in e), None)
    assert line is not None, errors
    assert words in line
