"""DRA: configuration errors, driver Helm values, sharing classes, team objects, summary capacity."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components.dra import (
    device_class,
    device_plugin_values,
    nvidia_dra_values,
    offers_for,
    team_objects,
)
from components.dra.spec import NIC_CLASS, PCIE_ROOT
from components.facts import SPOT_TAINT
from components.gpu_pools import gpu_slots
from stacks.plan import run_plan
from stacks.summary import render_summary
from tests.conftest import ROOT
from tests.helpers import changed, config_errors, load
from tests.k8s_schema import k8s_objects, validate_strict

BASE: dict[str, Any] = {
    "environment": "dev",
    "owner": "me",
    "costCenter": "cc",
    "location": "westeurope",
    "clusters": {
        "c1": {
            "location": "westeurope",
            "kubernetesVersion": "1.34",
            "gpuPools": {
                "t4": {"active": "blue", "slots": {"blue": {"vmSize": "Standard_NC8as_T4_v3", "maxCount": 2}}},
                "a100": {
                    "active": "blue",
                    "slots": {"blue": {"vmSize": "Standard_NC24ads_A100_v4", "maxCount": 3, "migProfile": "MIG1g"}},
                },
            },
        }
    },
    "dra": {
        "profiles": {
            "t4-shared": {"kind": "timeShared", "gpuModel": "T4", "replicas": 4},
            "a100-1g": {"kind": "mig", "gpuModel": "A100-80GB", "migProfile": "MIG1g"},
        }
    },
    "teams": {"research": {"profiles": {"a100-1g": 7, "t4-shared": 2}}},
}


def _errors(values: dict[str, Any]) -> str:
    return "\n".join(config_errors(values))


def _with(path: list[str], value: Any) -> dict[str, Any]:
    return changed(BASE, path, value)


def test_base_config_is_valid() -> None:
    cfg = load(BASE)
    assert set(cfg.dra.profiles) == {"t4-shared", "a100-1g"}


@pytest.mark.parametrize(
    ("path", "value", "key", "words"),
    [
        (
            ["clusters", "c1", "features"],
            {"dra": False},
            "ai-platform:clusters.c1.gpuPools.t4.allocation",
            "features.dra false",
        ),
        (
            ["dra", "profiles", "bad"],
            {"kind": "mig", "gpuModel": "T4", "migProfile": "MIG1g"},
            "ai-platform:dra.profiles.bad.migProfile",
            "T4 GPUs have no MIG slices",
        ),
        (
            ["dra", "profiles", "bad"],
            {"kind": "timeShared", "gpuModel": "T4"},
            "ai-platform:dra.profiles.bad.replicas",
            "is required for kind timeShared",
        ),
        (
            ["dra", "profiles", "bad"],
            {"kind": "whole", "gpuModel": "V100"},
            "ai-platform:dra.profiles.bad.gpuModel",
            "not a GPU model",
        ),
        (
            ["dra", "profiles", "h100"],
            {"kind": "whole", "gpuModel": "H100"},
            "ai-platform:dra.profiles.h100",
            "offered by no GPU pool",
        ),
        (
            ["dra", "profiles", "t4nic"],
            {"kind": "gpuNic", "gpuModel": "T4"},
            "ai-platform:dra.profiles.t4nic",
            "offered by no GPU pool",
        ),
        (["teams", "Research"], {"profiles": {}}, "ai-platform:teams.Research", "must be a DNS label"),
        (["teams", "kube-system"], {"profiles": {}}, "ai-platform:teams.kube-system", "system namespace"),
        (["teams", "ops"], {"profiles": {"nope": 1}}, "ai-platform:teams.ops.profiles.nope", "not a sharing profile"),
        (["teams", "ops"], {"clusters": ["zz"]}, "ai-platform:teams.ops.clusters.0", "names no cluster"),
        (
            ["teams", "ops"],
            {"allowIngressFrom": ["apps", "Ingress_NGINX"]},
            "ai-platform:teams.ops.allowIngressFrom.1",
            "is not a namespace name",
        ),
        (
            ["teams", "ops"],
            {"networkIsolation": False, "allowIngressFrom": ["apps"]},
            "ai-platform:teams.ops.allowIngressFrom",
            "only applies with networkIsolation true",
        ),
        (
            ["teams", "ops"],
            {"profiles": {"a100-1g": 0}},
            "ai-platform:teams.ops.profiles.a100-1g",
            "greater than or equal to 1",
        ),
        (
            ["clusters", "c1", "kubernetesVersion"],
            "1.33",
            "ai-platform:clusters.c1.kubernetesVersion",
            "must be 1.34 or newer",
        ),
    ],
)
def test_config_errors_name_the_key(path: list[str], value: Any, key: str, words: str) -> None:
    text = _errors(_with(path, value))
    line = next((ln for ln in text.splitlines() if f"{key}:" in ln), None)
    assert line is not None, text
    assert words in line
    assert line.startswith("Pulumi.test.yaml: ")


def test_amd_pool_cannot_use_the_nvidia_device_plugin() -> None:
    values = _with(
        ["clusters", "c1", "gpuPools", "mi300"],
        {
            "active": "blue",
            "allocation": "devicePlugin",
            "slots": {"blue": {"vmSize": "Standard_ND96is_MI300X_v5", "maxCount": 1}},
        },
    )
    text = _errors(values)
    assert "ai-platform:clusters.c1.gpuPools.mi300.allocation: the NVIDIA device plugin cannot advertise AMD" in text


def test_mixed_driver_modes_on_dra_slots_are_refused() -> None:
    values = _with(
        ["clusters", "c1", "gpuPools", "t4", "slots", "green"],
        {"vmSize": "Standard_NC8as_T4_v3", "maxCount": 1, "driver": "None"},
    )
    text = _errors(values)
    assert "ai-platform:clusters.c1.gpuPools.t4.slots.green.driver: differs from other DRA slots" in text


def test_team_profile_missing_on_one_of_its_clusters() -> None:
    values = copy.deepcopy(BASE)
    values["clusters"]["c2"] = {
        "location": "northeurope",
        "kubernetesVersion": "1.34",
        "gpuPools": {"t4": {"active": "blue", "slots": {"blue": {"vmSize": "Standard_NC8as_T4_v3", "maxCount": 1}}}},
    }
    text = _errors(values)
    assert "ai-platform:teams.research.profiles.a100-1g: is offered by no GPU pool on cluster(s) c2" in text
    values["teams"]["research"]["clusters"] = ["c1"]
    assert load(values).teams["research"].clusters == ["c1"]


def test_sharing_offers_interface() -> None:
    cfg = load(BASE)
    offers = {o.profile: o for o in offers_for(cfg.dra, cfg.clusters["c1"])}
    mig, shared = offers["a100-1g"], offers["t4-shared"]
    assert (mig.kind, mig.device_class, mig.pool_group, mig.gpu_model) == (
        "mig",
        "a100-1g.gpu.ai-platform",
        "a100",
        "A100-80GB",
    )
    assert (mig.memory_gib, mig.per_gpu, mig.isolated) == (10, 7, True)
    assert (shared.memory_gib, shared.per_gpu, shared.isolated, shared.shared_claim) == (16, 4, False, True)


def test_device_classes_select_the_driver_attributes() -> None:
    cfg = load(BASE)
    mig = device_class("a100-1g", cfg.dra.profiles["a100-1g"])
    expr = mig["spec"]["selectors"][0]["cel"]["expression"]
    assert "device.driver == 'gpu.nvidia.com'" in expr
    assert "device.attributes['gpu.nvidia.com'].type == 'mig'" in expr
    assert "device.attributes['gpu.nvidia.com'].profile == '1g.10gb'" in expr
    assert "productName == 'NVIDIA A100 80GB PCIe'" in expr
    assert "config" not in mig["spec"]
    shared = device_class("t4-shared", cfg.dra.profiles["t4-shared"])
    params = shared["spec"]["config"][0]["opaque"]
    assert params["driver"] == "gpu.nvidia.com"
    assert params["parameters"] == {
        "apiVersion": "resource.nvidia.com/v1beta1",
        "kind": "GpuConfig",
        "sharing": {"strategy": "TimeSlicing", "timeSlicingConfig": {"interval": "Default"}},
    }


def test_gpu_nic_profile_aligns_on_pcie_root_and_amd_uses_amd_driver() -> None:
    values = copy.deepcopy(BASE)
    values["clusters"]["c1"]["gpuPools"]["mi300"] = {
        "active": "blue",
        "slots": {"blue": {"vmSize": "Standard_ND96is_MI300X_v5", "maxCount": 2}},
    }
    values["dra"]["profiles"]["mi300-nic"] = {"kind": "gpuNic", "gpuModel": "MI300X"}
    values["teams"]["infra"] = {"profiles": {"mi300-nic": 4}}
    cfg = load(values)
    offer = next(o for o in offers_for(cfg.dra, cfg.clusters["c1"]) if o.profile == "mi300-nic")
    assert (offer.vendor, offer.nic_device_class, offer.per_gpu, offer.gpus_per_node) == ("amd", NIC_CLASS, 1, 8)
    cls = device_class("mi300-nic", cfg.dra.profiles["mi300-nic"])
    assert cls["spec"]["selectors"][0]["cel"]["expression"].startswith("device.driver == 'gpu.amd.com'")
    objects = team_objects("infra", cfg.teams["infra"], cfg.dra, offers_for(cfg.dra, cfg.clusters["c1"]))
    template = next(o for o in objects if o["kind"] == "ResourceClaimTemplate")
    devices = template["spec"]["spec"]["devices"]
    assert [r["exactly"]["deviceClassName"] for r in devices["requests"]] == ["mi300-nic.gpu.ai-platform", NIC_CLASS]
    assert devices["constraints"] == [{"requests": ["gpu", "nic"], "matchAttribute": PCIE_ROOT}]
    hard = next(o for o in objects if o["kind"] == "ResourceQuota")["spec"]["hard"]
    assert hard[f"{NIC_CLASS}.deviceclass.resource.k8s.io/devices"] == "4"
    assert hard["gpu.amd.com.deviceclass.resource.k8s.io/devices"] == "0"
    for obj in objects:
        validate_strict(obj, "1.34")


def test_team_objects_quota_closes_other_classes() -> None:
    cfg = load(BASE)
    objects = team_objects("research", cfg.teams["research"], cfg.dra, offers_for(cfg.dra, cfg.clusters["c1"]))
    quota = next(o for o in objects if o["kind"] == "ResourceQuota")
    assert quota["metadata"]["namespace"] == "research"
    assert quota["spec"]["hard"] == {
        "a100-1g.gpu.ai-platform.deviceclass.resource.k8s.io/devices": "7",
        "gpu.nvidia.com.deviceclass.resource.k8s.io/devices": "0",
        "mig.nvidia.com.deviceclass.resource.k8s.io/devices": "0",
        "t4-shared.gpu.ai-platform.deviceclass.resource.k8s.io/devices": "2",
        "vfio.gpu.nvidia.com.deviceclass.resource.k8s.io/devices": "0",
    }
    templates = [o["metadata"]["name"] for o in objects if o["kind"] == "ResourceClaimTemplate"]
    shared = [o["metadata"]["name"] for o in objects if o["kind"] == "ResourceClaim"]
    assert templates == ["a100-1g"]
    assert shared == ["t4-shared-0", "t4-shared-1"]


def test_nvidia_dra_helm_values() -> None:
    cfg = load(BASE)
    slots = [s for g, p in cfg.clusters["c1"].gpu_pools.items() for s in gpu_slots(g, p)]
    values = nvidia_dra_values(slots, {"TimeSlicingSettings": True})
    assert values["gpuResourcesEnabledOverride"] is True
    assert values["resourceApiVersion"] == "resource.k8s.io/v1"
    assert values["resources"] == {"gpus": {"enabled": True}, "computeDomains": {"enabled": False}}
    assert values["nvidiaDriverRoot"] == "/"
    assert values["featureGates"] == {"TimeSlicingSettings": True}
    assert values["controller"]["tolerations"] == [{"key": "CriticalAddonsOnly", "operator": "Exists"}]
    assert values["controller"]["nodeSelector"] == {"kubernetes.azure.com/mode": "system"}
    plugin = values["kubeletPlugin"]
    assert plugin["nodeSelector"] == {"ai-platform/gpu-allocation": "dra", "ai-platform/gpu-vendor": "nvidia"}
    terms = plugin["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0] == {"key": "ai-platform/gpu-allocation", "operator": "In", "values": ["dra"]}
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"} in plugin[
        "tolerations"
    ]
    assert {"key": "ai-platform/standby", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in plugin[
        "tolerations"
    ]
    # Spot GPU pools carry AKS's own spot taint: the plugin must run there too or their GPUs are never published.
    assert SPOT_TAINT.toleration() in plugin["tolerations"]
    operator_driver = _with(["clusters", "c1", "gpuPools", "t4", "slots", "blue", "driver"], "None")
    operator_driver["clusters"]["c1"]["gpuPools"]["a100"]["slots"]["blue"]["driver"] = "None"
    cfg2 = load(operator_driver)
    slots2 = [s for g, p in cfg2.clusters["c1"].gpu_pools.items() for s in gpu_slots(g, p)]
    assert nvidia_dra_values(slots2, {})["nvidiaDriverRoot"] == "/run/nvidia/driver"


def test_device_plugin_only_on_device_plugin_pools() -> None:
    values = _with(["clusters", "c1", "gpuPools", "t4", "allocation"], "devicePlugin")
    values["dra"]["profiles"].pop("t4-shared")
    values["teams"]["research"]["profiles"].pop("t4-shared")
    cfg = load(values)
    assert {o.profile for o in offers_for(cfg.dra, cfg.clusters["c1"])} == {"a100-1g"}
    slots = list(gpu_slots("t4", cfg.clusters["c1"].gpu_pools["t4"]))
    plugin = device_plugin_values(slots)
    assert plugin["nodeSelector"] == {"ai-platform/gpu-allocation": "device-plugin", "ai-platform/gpu-vendor": "nvidia"}
    assert plugin["migStrategy"] == "none"


def test_shipped_stacks_install_the_pinned_driver_without_waiting_for_gpu_pools(
    plan_documents: dict[str, dict[str, Any]],
) -> None:
    for stack, document in plan_documents.items():
        releases = [
            r
            for r in document["resources"]
            if r["type"] == "kubernetes:helm.sh/v3:Release" and r["inputs"].get("name") == "nvidia-dra-driver-gpu"
        ]
        assert releases, stack
        pools = {r["urn"] for r in document["resources"] if r["type"].endswith("AgentPool")}
        for release in releases:
            inputs = release["inputs"]
            assert inputs["chart"] == "oci://registry.k8s.io/dra-driver-nvidia/charts/dra-driver-nvidia-gpu"
            assert inputs["version"] == "0.4.0"
            assert inputs["namespace"] == "nvidia-dra-driver-gpu"
            assert inputs["values"]["gpuResourcesEnabledOverride"] is True
            assert not pools & set(release["dependencies"])


def test_every_kubernetes_object_of_every_stack_validates_strictly(
    plans: dict[str, Any],
    plan_documents: dict[str, dict[str, Any]],
) -> None:
    for stack, document in plan_documents.items():
        objects = k8s_objects(document)
        kinds = {o["kind"] for o in objects}
        assert {"Namespace", "DeviceClass", "ResourceClaimTemplate", "ResourceQuota", "NetworkPolicy"} <= kinds, stack
        versions = {spec.kubernetes_version for spec in plans[stack].config.clusters.values()}
        for obj in objects:
            for version in versions:
                validate_strict(obj, version)


def test_strict_validation_rejects_unknown_fields(plan_documents: dict[str, dict[str, Any]]) -> None:
    template = copy.deepcopy(k8s_objects(plan_documents["dev"], "ResourceClaimTemplate")[0])
    template["spec"]["spec"]["devices"]["requests"][0]["exactly"]["deviceClass"] = "typo"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_strict(template, "1.34")


def test_team_namespaces_and_mtls_label(plan_documents: dict[str, dict[str, Any]]) -> None:
    namespaces = {
        o["metadata"]["name"]: o["metadata"]["labels"] for o in k8s_objects(plan_documents["dev"], "Namespace")
    }
    assert namespaces["research"]["io.cilium/mtls-enabled"] == "true"
    assert "io.cilium/mtls-enabled" not in namespaces["apps"]


def test_component_exposes_namespaces(plans: dict[str, Any]) -> None:
    dra = plans["prod"].platform.dra
    assert set(dra) == {"weu1", "neu1"}
    assert set(dra["weu1"].namespaces) == {"inference", "research"}
    assert set(dra["neu1"].namespaces) == {"inference"}


def test_summary_capacity_numbers(plans: dict[str, Any]) -> None:
    dev = render_summary(plans["dev"])
    assert "a100blue     1 x A100-80GB: a100-1g = 7 x 1g.10gb MIG slice per node, 7 at maxCount 1" in dev
    assert "t4blue       1 x T4: t4-shared = 4 x time-shared T4 replica per node, 8 at maxCount 2" in dev
    assert "class a100-1g.gpu.ai-platform" in dev
    staging = render_summary(plans["staging"])
    assert "a100green    2 x A100-80GB: a100-3g = 4 x 3g.40gb MIG slice per node, 8 at maxCount 2" in staging


GUARDS = ("kubernetes:core/v1:ResourceQuota", "kubernetes:networking.k8s.io/v1:NetworkPolicy")
"""What keeps a team namespace closed: its GPU quota and its default-deny ingress policy."""


def _team_of(resource: dict[str, Any]) -> str | None:
    metadata = resource["inputs"].get("metadata") or {}
    return (metadata.get("labels") or {}).get("ai-platform/team")


def test_team_guards_are_retained_exactly_with_their_namespace(plan_documents: dict[str, Any]) -> None:
    """Removing a team from config must leave its namespace locked down, never open with its pods in it."""
    for stack, document in plan_documents.items():
        k8s = [r for r in document["resources"] if r["type"].startswith("kubernetes:")]
        # (cluster provider, namespace name) -> the team Namespace: teams have a namespace on several clusters.
        namespaces = {
            (r["provider"], r["inputs"]["metadata"]["name"]): r
            for r in k8s
            if r["type"] == "kubernetes:core/v1:Namespace" and _team_of(r)
        }
        assert namespaces, stack
        guards = [r for r in k8s if r["type"] in GUARDS and _team_of(r)]
        # The FQDN egress policies (egress.defaultDeny) guard the namespace too.
        guards += [
            r
            for r in k8s
            if r["type"] == "kubernetes:cilium.io/v2:CiliumNetworkPolicy"
            and r["inputs"]["metadata"]["name"] in ("egress-default-deny", "egress-model-hub", "egress-model-hub-ray")
        ]
        for namespace in namespaces.values():
            assert namespace["retainOnDelete"] is True, namespace["urn"]
            quotas = [
                g
                for g in guards
                if g["type"] == GUARDS[0]
                and (g["provider"], g["inputs"]["metadata"]["namespace"])
                == (namespace["provider"], _team_of(namespace))
            ]
            assert len(quotas) == 1, namespace["urn"]
        for guard in guards:
            namespace = namespaces[(guard["provider"], guard["inputs"]["metadata"]["namespace"])]
            assert guard["retainOnDelete"] is namespace["retainOnDelete"], guard["urn"]
            assert namespace["urn"] in guard["dependencies"], guard["urn"]
        # Claim templates and shared claims grant GPUs: deleting them closes nothing, so they are not retained.
        others = [r for r in k8s if r not in guards and r not in namespaces.values()]
        assert [r["urn"] for r in others if r["retainOnDelete"]] == [], stack


def test_team_guards_are_retained_in_fleet_placed_namespaces(tmp_path: Path) -> None:
    """Fleet keeps a removed team's namespace on the members (``deletePolicy: Keep``): its guards stay too."""
    document = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    fleet = document["config"]["ai-platform:fleet"]
    fleet["hub"] = True
    fleet["managedNamespaces"] = {"enabled": True, "deletePolicy": "Keep"}
    path = tmp_path / "Pulumi.fleetns.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    plan = run_plan("fleetns", path).to_json()
    team_namespaces = [r for r in plan["resources"] if r["type"] == "kubernetes:core/v1:Namespace" and _team_of(r)]
    assert team_namespaces == []  # Fleet owns the team namespaces here
    guards = [r for r in plan["resources"] if r["type"] in GUARDS and _team_of(r)]
    assert {(_team_of(r), r["type"]) for r in guards} >= {
        ("inference", GUARDS[0]),
        ("inference", GUARDS[1]),
        ("research", GUARDS[0]),
    }
    assert all(r["retainOnDelete"] for r in guards), [r["urn"] for r in guards if not r["retainOnDelete"]]
