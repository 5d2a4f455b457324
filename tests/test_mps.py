"""GPU sharing by MPS: the ``mps`` sharing profile, its DeviceClass, the driver feature gate, fit and quotas.

Field names and the gate are the NVIDIA DRA driver's at the pinned chart version 0.4.0
(kubernetes-sigs/dra-driver-nvidia-gpu: api/nvidia.com/resource/v1beta1/sharing.go ``MpsConfig``,
pkg/featuregates/featuregates.go ``MPSSupport``).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from components._common import ConfigError
from components.dra import device_class, feature_gates
from components.serving import analyse, manifests
from stacks.config import load_config
from stacks.plan import read_stack_file
from tests.helpers import changed, config_errors

BASE: dict[str, Any] = {
    "environment": "dev",
    "owner": "o",
    "costCenter": "c",
    "location": "westeurope",
    "clusters": {
        "weu1": {
            "location": "westeurope",
            "kubernetesVersion": "1.34",
            "apiServer": {"private": False, "authorizedIpRanges": ["203.0.113.0/24"]},
            "gpuPools": {
                "t4": {"active": "blue", "slots": {"blue": {"vmSize": "Standard_NC8as_T4_v3", "maxCount": 2}}}
            },
        }
    },
    "dra": {
        "profiles": {
            "t4-mps": {"kind": "mps", "gpuModel": "T4", "replicas": 5, "activeThreadPercentage": 20},
        }
    },
}


def _profile(**fields: Any) -> dict[str, Any]:
    return changed(BASE, "dra.profiles.t4-mps", {"kind": "mps", "gpuModel": "T4", **fields})


@pytest.mark.parametrize(
    ("values", "key", "needle"),
    [
        (_profile(), "dra.profiles.t4-mps.replicas", "is required for kind mps"),
        (_profile(replicas=49), "dra.profiles.t4-mps.replicas", "at most 48 clients"),
        (_profile(replicas=5, pinnedMemoryGib=4), "dra.profiles.t4-mps.pinnedMemoryGib", "5 clients x 4 GiB exceed"),
        (_profile(replicas=2, interval="Short"), "dra.profiles.t4-mps.interval", "only applies to kind timeShared"),
        (
            changed(BASE, "dra.profiles.t4-mps", {"kind": "mps", "gpuModel": "MI300X", "replicas": 2}),
            "dra.profiles.t4-mps.kind",
            "NVIDIA driver's GpuConfig",
        ),
        (
            changed(
                BASE,
                "dra.profiles.t4-mps",
                {"kind": "timeShared", "gpuModel": "T4", "replicas": 2, "activeThreadPercentage": 50},
            ),
            "dra.profiles.t4-mps.activeThreadPercentage",
            "only applies to kind mps",
        ),
        (_profile(replicas=2, activeThreadPercentage=0), "dra.profiles.t4-mps.activeThreadPercentage", ">= 1"),
    ],
)
def test_bad_mps_profiles_name_the_key(values: dict[str, Any], key: str, needle: str) -> None:
    lines = config_errors(values)
    assert any(f"ai-platform:{key}:" in line and needle in line for line in lines), lines


def test_mps_class_carries_the_drivers_mps_config() -> None:
    cfg = load_config(
        {f"ai-platform:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in BASE.items()}, "Pulumi.test.yaml"
    )
    profile = cfg.dra.profiles["t4-mps"]
    obj = device_class("t4-mps", profile)
    assert obj["spec"]["config"] == [
        {
            "opaque": {
                "driver": "gpu.nvidia.com",
                "parameters": {
                    "apiVersion": "resource.nvidia.com/v1beta1",
                    "kind": "GpuConfig",
                    # 16 GiB T4 / 5 clients = 3 GiB each (rounded down, a whole quantity)
                    "sharing": {
                        "strategy": "MPS",
                        "mpsConfig": {"defaultActiveThreadPercentage": 20, "defaultPinnedDeviceMemoryLimit": "3Gi"},
                    },
                },
            }
        }
    ]
    assert feature_gates(["mps"]) == {"MPSSupport": True}
    assert feature_gates(["whole", "mig"]) == {}
    assert feature_gates(["timeShared", "mps"]) == {"MPSSupport": True, "TimeSlicingSettings": True}


def test_default_thread_share_is_an_even_split() -> None:
    values = _profile(replicas=3)
    cfg = load_config(
        {f"ai-platform:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}, "Pulumi.test.yaml"
    )
    profile = cfg.dra.profiles["t4-mps"]
    assert (profile.mps_thread_percentage, profile.mps_memory_gib) == (33, 5)


def test_dev_plan_ships_mps_with_its_gate_and_shared_claim(plan_documents: dict[str, dict[str, Any]]) -> None:
    resources = {r["name"]: r for r in plan_documents["dev"]["resources"]}
    chart = resources["weu1-dra-nvidia-dra"]["inputs"]["values"]
    assert chart["featureGates"] == {"MPSSupport": True, "TimeSlicingSettings": True}
    sharing = resources["weu1-dra-class-t4-mps"]["inputs"]["spec"]["config"][0]["opaque"]["parameters"]["sharing"]
    assert sharing == {
        "strategy": "MPS",
        "mpsConfig": {"defaultActiveThreadPercentage": 20, "defaultPinnedDeviceMemoryLimit": "3Gi"},
    }
    claim = resources["weu1-dra-research-resourceclaim-t4-mps-0"]["inputs"]
    assert claim["spec"]["devices"]["requests"][0]["exactly"]["deviceClassName"] == "t4-mps.gpu.ai-platform"
    quota = resources["weu1-dra-research-resourcequota-gpu-devices"]["inputs"]["spec"]["hard"]
    assert quota["t4-mps.gpu.ai-platform.deviceclass.resource.k8s.io/devices"] == "1"


def _qwen(profile: str) -> dict[str, Any]:
    return {
        "team": "research",
        "cluster": "weu1",
        "model": "qwen2.5-7b-instruct",
        "precision": "int4",
        "source": "Qwen/Qwen2.5-7B-Instruct-AWQ",
        "contextLength": 2048,
        "concurrency": 2,
        "profile": profile,
    }


def _dev_with(models: dict[str, Any], profile: dict[str, Any], quota: int) -> Any:
    stack_file = read_stack_file("dev")
    config_map = dict(stack_file.config_map)
    dra = json.loads(config_map["ai-platform:dra"])
    dra["profiles"]["t4-mps"] = profile
    teams = json.loads(config_map["ai-platform:teams"])
    teams["research"]["profiles"]["t4-mps"] = quota
    config_map["ai-platform:dra"] = json.dumps(dra)
    config_map["ai-platform:teams"] = json.dumps(teams)
    config_map["ai-platform:models"] = json.dumps(models)
    return load_config(config_map, stack_file.source)


TWO_CLIENTS = {"kind": "mps", "gpuModel": "T4", "replicas": 2, "activeThreadPercentage": 50, "pinnedMemoryGib": 7}


def test_fit_checks_a_model_against_the_clients_memory_limit_and_packs_clients() -> None:
    cfg = _dev_with({"a": _qwen("t4-mps"), "b": _qwen("t4-mps")}, TWO_CLIENTS, quota=1)
    plan, issues = analyse(cfg.serving)
    assert issues == []
    # each needs 3.62 + 2.3 + 0.22 = 6.1 GiB <= 7 GiB x 0.90: two MPS clients of one claim, one GPU
    assert plan.fits["a"].chosen.device_memory_gib == 7
    assert plan.fits["a"].shared_claim == plan.fits["b"].shared_claim == "t4-mps-0"
    placement = next(p for p in plan.placements if p.profile == "t4-mps")
    assert (placement.kind, placement.gpus) == ("mps", 1)
    dep = next(o for o in manifests(plan.fits["a"], "research") if o["kind"] == "Deployment")
    assert dep["spec"]["template"]["spec"]["resourceClaims"] == [{"name": "gpu", "resourceClaimName": "t4-mps-0"}]
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    need = plan.fits["a"].chosen.estimate.total_gib
    # vLLM's fraction is of the whole 16 GiB GPU and stays inside the 7 GiB client limit
    expected = math.floor(min(7 * 0.90, need + 0.5) / 16 * 100) / 100
    assert args[args.index("--gpu-memory-utilization") + 1] == f"{expected:g}"
    assert expected * 16 <= 7


def test_a_model_over_the_client_limit_does_not_fit_mps() -> None:
    small = {**TWO_CLIENTS, "pinnedMemoryGib": 5}
    with pytest.raises(ConfigError) as caught:
        _dev_with({"a": _qwen("t4-mps")}, small, quota=1)
    assert any("models.a" in line and "t4-mps" in line for line in caught.value.lines), caught.value.lines


def test_quota_counts_mps_shared_claims() -> None:
    # Three deployments, two clients per claim: a second claim t4-mps-1, beyond the team's quota of 1.
    with pytest.raises(ConfigError) as caught:
        _dev_with({"a": _qwen("t4-mps"), "b": _qwen("t4-mps"), "c": _qwen("t4-mps")}, TWO_CLIENTS, quota=1)
    assert any("needs 2 t4-mps devices" in line for line in caught.value.lines), caught.value.lines
