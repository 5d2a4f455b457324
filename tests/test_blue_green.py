"""Blue-green GPU pools: every state of a pool group, and every transition between them, under mocks."""

from __future__ import annotations

import copy
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from components._common import ConfigError
from components.serving import analyse, manifests
from stacks.__main__ import main
from stacks.config import load_config
from stacks.plan import run_plan

A100 = "Standard_NC24ads_A100_v4"
H100 = "Standard_NC40ads_H100_v5"
STANDBY = "ai-platform/standby=true:NoSchedule"
GPU_TAINT = "nvidia.com/gpu=present:NoSchedule"

STATES: dict[str, dict[str, Any]] = {
    # Steady state on blue.
    "blue-only": {"active": "blue", "slots": {"blue": {"vmSize": A100, "maxCount": 2}}},
    # Prepare: green created as standby next to the active blue.
    "green-prepared": {
        "active": "blue",
        "slots": {"blue": {"vmSize": A100, "maxCount": 2}, "green": {"vmSize": H100, "maxCount": 2}},
    },
    # Switch: green takes work, blue becomes standby (and is drained by the operator).
    "switched-to-green": {
        "active": "green",
        "slots": {"blue": {"vmSize": A100, "maxCount": 2}, "green": {"vmSize": H100, "maxCount": 2}},
    },
    # Clean-up: blue removed.
    "green-only": {"active": "green", "slots": {"green": {"vmSize": H100, "maxCount": 2}}},
}

TRANSITIONS = [
    ("blue-only", "green-prepared"),  # prepare
    ("green-prepared", "switched-to-green"),  # switch
    ("switched-to-green", "green-prepared"),  # roll back
    ("switched-to-green", "green-only"),  # remove the old colour
    ("green-only", "switched-to-green"),  # next cycle: blue re-created as the standby colour
]


def write_stack(tmp_path: Path, name: str, group: dict[str, Any]) -> Path:
    document = {
        "config": {
            "ai-platform:environment": "dev",
            "ai-platform:owner": "platform",
            "ai-platform:costCenter": "cc",
            "ai-platform:location": "westeurope",
            "ai-platform:clusters": {
                "weu1": {
                    "location": "westeurope",
                    "kubernetesVersion": "1.34",
                    "gpuPools": {"gpu": copy.deepcopy(group)},
                }
            },
        }
    }
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture(scope="module")
def state_pools(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict[str, Any]]]:
    """AgentPool registrations (by pool name) for every state, planned once per module."""
    tmp_path = tmp_path_factory.mktemp("bluegreen")
    result = {}
    for state, group in STATES.items():
        plan = run_plan("bg", write_stack(tmp_path, state, group))
        result[state] = {
            r.inputs["agentPoolName"]: {"urn": r.urn, "inputs": r.inputs, "deps": r.dependencies}
            for r in plan.resources
            if r.type == "azure-native:containerservice:AgentPool"
        }
    return result


def test_steady_state_has_one_active_untainted_slot(state_pools) -> None:
    pools = state_pools["blue-only"]
    assert set(pools) == {"gpublue"}
    blue = pools["gpublue"]["inputs"]
    assert blue["nodeTaints"] == [GPU_TAINT]
    assert blue["nodeLabels"]["ai-platform/color"] == "blue"
    assert blue["nodeLabels"]["ai-platform/slot-role"] == "active"


def test_prepared_standby_carries_the_standby_taint(state_pools) -> None:
    pools = state_pools["green-prepared"]
    assert set(pools) == {"gpublue", "gpugreen"}
    assert STANDBY not in pools["gpublue"]["inputs"]["nodeTaints"]
    green = pools["gpugreen"]["inputs"]
    assert green["nodeTaints"] == [GPU_TAINT, STANDBY]
    assert green["nodeLabels"]["ai-platform/slot-role"] == "standby"
    assert green["vmSize"] == H100


def test_switch_moves_the_standby_taint_to_the_old_colour(state_pools) -> None:
    pools = state_pools["switched-to-green"]
    assert pools["gpublue"]["inputs"]["nodeTaints"] == [GPU_TAINT, STANDBY]
    assert pools["gpugreen"]["inputs"]["nodeTaints"] == [GPU_TAINT]
    assert pools["gpugreen"]["inputs"]["nodeLabels"]["ai-platform/slot-role"] == "active"


def test_pool_operations_are_serialized(state_pools) -> None:
    pools = state_pools["green-prepared"]
    assert pools["gpublue"]["urn"] in pools["gpugreen"]["deps"]


@pytest.mark.parametrize(("before", "after"), TRANSITIONS, ids=[f"{a}->{b}" for a, b in TRANSITIONS])
def test_transition_updates_surviving_pools_in_place(state_pools, before: str, after: str) -> None:
    """A pool present before and after keeps its identity and only changes updatable properties."""
    old, new = state_pools[before], state_pools[after]
    for name in set(old) & set(new):
        assert old[name]["urn"] == new[name]["urn"]
        changed = {
            k
            for k in old[name]["inputs"].keys() | new[name]["inputs"].keys()
            if old[name]["inputs"].get(k) != new[name]["inputs"].get(k)
        }
        assert changed <= {"nodeTaints", "nodeLabels", "tags"}, (name, changed)
    # The active colour of the target state always exists and is untainted.
    active = next(n for n, p in new.items() if p["inputs"]["nodeLabels"]["ai-platform/slot-role"] == "active")
    assert STANDBY not in new[active]["inputs"]["nodeTaints"]


def test_removing_the_active_slot_is_refused(tmp_path: Path) -> None:
    unsafe = {"active": "blue", "slots": {"green": {"vmSize": H100, "maxCount": 2}}}
    with pytest.raises(ConfigError) as caught:
        run_plan("bg", write_stack(tmp_path, "unsafe", unsafe))
    (line,) = caught.value.lines
    assert "ai-platform:clusters.weu1.gpuPools.gpu.active: names a slot that does not exist" in line
    assert "switch active to an existing slot first" in line


def test_slot_from_snapshot_and_capacity_reservation(tmp_path: Path) -> None:
    snapshot = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/snapshots/gpu-2026-11"
    crg = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/capacityReservationGroups/crg-a100"
    group = {
        "active": "blue",
        "slots": {
            "blue": {
                "vmSize": A100,
                "maxCount": 2,
                "snapshotId": snapshot,
                "capacityReservationGroupId": crg,
                "driver": "None",
                "migProfile": "MIG2g",
            }
        },
    }
    plan = run_plan("bg", write_stack(tmp_path, "snap", group))
    (pool,) = [r for r in plan.resources if r.type == "azure-native:containerservice:AgentPool"]
    assert pool.inputs["creationData"] == {"sourceResourceId": snapshot}
    assert pool.inputs["capacityReservationGroupID"] == crg
    assert pool.inputs["gpuProfile"] == {"driver": "None"}
    assert pool.inputs["gpuInstanceProfile"] == "MIG2g"
    assert pool.ignore_changes == ["count"]


def test_spot_slot(tmp_path: Path) -> None:
    group = {"active": "blue", "slots": {"blue": {"vmSize": A100, "maxCount": 2, "spot": True}}}
    plan = run_plan("bg", write_stack(tmp_path, "spot", group))
    (pool,) = [r for r in plan.resources if r.type == "azure-native:containerservice:AgentPool"]
    assert pool.inputs["scaleSetPriority"] == "Spot"
    assert pool.inputs["scaleSetEvictionPolicy"] == "Delete"
    assert pool.inputs["spotMaxPrice"] == -1


# --------------------------------------------------------------------------------------------------------
# Blue-green with models running: the shipped staging stack (mistral on a100/a100-3g) through a switch.
# --------------------------------------------------------------------------------------------------------

README = Path(__file__).resolve().parent.parent / "README.md"


def _staging(edit: Any = None) -> dict[str, Any]:
    """Pulumi.staging.yaml as a document, with ``edit(config)`` applied to its ``ai-platform:`` config."""
    document = yaml.safe_load((README.parent / "Pulumi.staging.yaml").read_text())
    if edit is not None:
        edit(document["config"])
    return document


def _a100(config: dict[str, Any]) -> dict[str, Any]:
    group: dict[str, Any] = config["ai-platform:clusters"]["weu1"]["gpuPools"]["a100"]
    return group


def _load(document: dict[str, Any]) -> Any:
    return load_config(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in document["config"].items()}, "Pulumi.staging.yaml"
    )


def _switch_to_h100(config: dict[str, Any]) -> None:
    """Green becomes whole H100 NVL GPUs (a profile and quota for them), and takes over."""
    config["ai-platform:dra"]["profiles"]["h100"] = {"kind": "whole", "gpuModel": "H100-NVL"}
    config["ai-platform:teams"]["research"]["profiles"]["h100"] = 4
    group = _a100(config)
    group["slots"]["green"] = {"vmSize": H100, "minCount": 1, "maxCount": 2}
    group["active"] = "green"


def test_switch_moves_placement_and_node_selection_to_the_new_colours_gpu() -> None:
    plan, issues = analyse(_load(_staging(_switch_to_h100)).serving)
    assert issues == []
    fit = plan.fits["mistral"]
    assert fit.chosen is not None
    # Not the a100-3g MIG slice only blue (now standby) serves: green's whole H100 NVL.
    assert (fit.chosen.profile, fit.chosen.sku.vm_size, fit.chosen.slot.colour) == ("h100", H100, "green")
    objects = {o["kind"]: o for o in manifests(fit, "research")}
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"ai-platform/gpu-pool": "a100", "ai-platform/color": "green"}
    request = objects["ResourceClaimTemplate"]["spec"]["spec"]["devices"]["requests"][0]
    assert request["exactly"]["deviceClassName"] == "h100.gpu.ai-platform"


def _mig(profile: str, extra_profile: dict[str, Any] | None = None) -> Any:
    def edit(config: dict[str, Any]) -> None:
        if extra_profile is not None:
            config["ai-platform:dra"]["profiles"]["a100-small"] = extra_profile
            config["ai-platform:teams"]["research"]["profiles"]["a100-small"] = 8
        group = _a100(config)
        group["slots"]["green"].update(migProfile=profile, minCount=1)
        group["active"] = "green"

    return edit


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        # Green slices its GPUs differently: no a100-3g device exists on the active colour.
        (_mig("MIG2g"), "serves no a100-3g devices"),
        # Green offers 1g.10gb slices (a profile the team may use) but mistral needs 24 GiB.
        (_mig("MIG1g", {"kind": "mig", "gpuModel": "A100-80GB", "migProfile": "MIG1g"}), "does not fit"),
    ],
    ids=["other-mig-profile", "slice-too-small"],
)
def test_a_switch_to_a_colour_that_cannot_hold_a_model_is_refused(tmp_path: Path, edit: Any, why: str) -> None:
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(yaml.safe_dump(_staging(edit)))
    with pytest.raises(ConfigError) as caught:
        run_plan("staging", path)
    (line,) = caught.value.lines
    assert line.startswith(
        "Pulumi.staging.yaml: ai-platform:clusters.weu1.gpuPools.a100.active: leaves models.mistral without "
        "schedulable capacity: the active colour green"
    )
    assert why in line
    assert "Fix: keep active: blue until slots.green serves a100-3g" in line


def _runbook_groups() -> list[dict[str, Any]]:
    """The ``a100:`` blocks of the README's blue-green runbook, in order."""
    text = README.read_text()
    section = text.split("## Blue-green GPU pools: runbook", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    return [yaml.safe_load(textwrap.dedent(block))["a100"] for block in blocks]


def test_every_runbook_step_plans_cleanly_for_staging(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    groups = _runbook_groups()
    assert [g["active"] for g in groups] == ["blue", "green", "green", "green"]  # prepare, switch, scale, remove
    # The runbook starts from the shipped staging stack: its next step only raises green's minCount.
    shipped = _a100(_staging()["config"])
    assert groups[0] == {
        **shipped,
        "slots": {**shipped["slots"], "green": {**shipped["slots"]["green"], "minCount": 1}},
    }
    for i, group in enumerate(groups):
        path = tmp_path / f"Pulumi.step{i}.yaml"
        path.write_text(yaml.safe_dump(_staging(lambda config, g=group: _a100(config).update(g))))
        code = main(["plan", "staging", "--config-file", str(path)])
        out = capsys.readouterr()
        assert code == 0, (i, group, out.err, [line for line in out.out.splitlines() if "[mandatory]" in line])
