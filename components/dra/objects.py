"""Kubernetes objects and Helm values of GPU allocation (pure): DeviceClasses, claim templates, team
quotas and NetworkPolicies, the NVIDIA DRA driver's and the device plugin's chart values.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from components.dra.offers import SharingOffer, device_class_name, nvidia_driver_root, quota_key
from components.dra.spec import (
    DRIVER_CLASSES,
    GPU_CONFIG_API_VERSION,
    NIC_CLASS,
    NIC_DRIVER,
    PCIE_ROOT,
    SHARED_CLAIM_KINDS,
    SYSTEM_NODE_SELECTOR,
    DraSpec,
    SharingProfileSpec,
)
from components.facts import (
    AMD_DRIVER,
    DEFAULT_NETWORK_POLICY,
    LABEL_ALLOCATION,
    LABEL_PREFIX,
    LABEL_VENDOR,
    METRICS_COLLECTOR,
    MODEL_LABEL,
    NAMESPACE_NAME_LABEL,
    NVIDIA_DRIVER,
    RESOURCE_API_VERSION,
    SYSTEM_TAINT,
    TEAM_LABEL,
)
from components.gpu_pools import GpuSlot, node_agent_tolerations
from components.images import chart_image_tag
from components.teams import TeamSpec

if TYPE_CHECKING:
    from components.cluster import ClusterSpec


def _cel(expression: str) -> dict[str, Any]:
    return {"cel": {"expression": expression}}


def gpu_selector(profile: SharingProfileSpec) -> str:
    model = profile.model
    if model.vendor == "amd":
        return (
            f"device.driver == '{AMD_DRIVER}' && device.attributes['{AMD_DRIVER}'].type == 'amdgpu' && "
            f"device.attributes['{AMD_DRIVER}'].productName == '{model.product_name}'"
        )
    attrs = f"device.attributes['{NVIDIA_DRIVER}']"
    expression = f"device.driver == '{NVIDIA_DRIVER}' && {attrs}.productName == '{model.product_name}'"
    if profile.kind == "mig":
        assert profile.mig_profile is not None
        return f"{expression} && {attrs}.type == 'mig' && {attrs}.profile == '{model.mig[profile.mig_profile].name}'"
    return f"{expression} && {attrs}.type == 'gpu'"


def device_class(name: str, profile: SharingProfileSpec) -> dict[str, Any]:
    spec: dict[str, Any] = {"selectors": [_cel(gpu_selector(profile))]}
    sharing: dict[str, Any] | None = None
    if profile.kind == "timeShared":
        sharing = {"strategy": "TimeSlicing", "timeSlicingConfig": {"interval": profile.interval}}
    elif profile.kind == "mps":
        # GpuSharing/MpsConfig of the driver's resource.nvidia.com/v1beta1 API (api/nvidia.com/resource/v1beta1/
        # sharing.go at v0.4.0): an int percentage and a resource.Quantity memory limit per client.
        sharing = {
            "strategy": "MPS",
            "mpsConfig": {
                "defaultActiveThreadPercentage": profile.mps_thread_percentage,
                "defaultPinnedDeviceMemoryLimit": f"{profile.mps_memory_gib}Gi",
            },
        }
    if sharing is not None:
        spec["config"] = [
            {
                "opaque": {
                    "driver": NVIDIA_DRIVER,
                    "parameters": {"apiVersion": GPU_CONFIG_API_VERSION, "kind": "GpuConfig", "sharing": sharing},
                }
            }
        ]
    return {
        "apiVersion": RESOURCE_API_VERSION,
        "kind": "DeviceClass",
        "metadata": {
            "name": device_class_name(name),
            "labels": {f"{LABEL_PREFIX}/profile": name, f"{LABEL_PREFIX}/kind": profile.kind},
        },
        "spec": spec,
    }


def nic_device_class() -> dict[str, Any]:
    return {
        "apiVersion": RESOURCE_API_VERSION,
        "kind": "DeviceClass",
        "metadata": {"name": NIC_CLASS},
        "spec": {
            "selectors": [_cel(f"device.driver == '{NIC_DRIVER}' && device.attributes['{NIC_DRIVER}'].rdma == true")]
        },
    }


def claim_spec(name: str, profile: SharingProfileSpec) -> dict[str, Any]:
    requests: list[dict[str, Any]] = [
        {"name": "gpu", "exactly": {"deviceClassName": device_class_name(name), "count": 1}}
    ]
    devices: dict[str, Any] = {"requests": requests}
    if profile.kind == "gpuNic":
        requests.append({"name": "nic", "exactly": {"deviceClassName": NIC_CLASS, "count": 1}})
        devices["constraints"] = [{"requests": ["gpu", "nic"], "matchAttribute": PCIE_ROOT}]
    return {"devices": devices}


def team_objects(team: str, spec: TeamSpec, dra: DraSpec, offers: list[SharingOffer]) -> list[dict[str, Any]]:
    """The namespace's claim templates / shared claims and its quota (the Namespace itself is separate)."""
    objects: list[dict[str, Any]] = []
    labels = {TEAM_LABEL: team}
    hard: dict[str, str] = {}
    for cls in _closed_classes(offers):
        hard[quota_key(cls)] = "0"
    for name, quota in sorted(spec.profiles.items()):
        profile = dra.profiles[name]
        hard[quota_key(device_class_name(name))] = str(quota)
        if profile.kind == "gpuNic":
            hard[quota_key(NIC_CLASS)] = str(int(hard.get(quota_key(NIC_CLASS), "0")) + quota)
        meta = {"namespace": team, "labels": {**labels, f"{LABEL_PREFIX}/profile": name}}
        if profile.kind in SHARED_CLAIM_KINDS:
            objects.extend(
                {
                    "apiVersion": RESOURCE_API_VERSION,
                    "kind": "ResourceClaim",
                    "metadata": {**meta, "name": f"{name}-{i}"},
                    "spec": claim_spec(name, profile),
                }
                for i in range(quota)
            )
        else:
            objects.append(
                {
                    "apiVersion": RESOURCE_API_VERSION,
                    "kind": "ResourceClaimTemplate",
                    "metadata": {**meta, "name": name},
                    "spec": {"spec": claim_spec(name, profile)},
                }
            )
    objects.append(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "gpu-devices", "namespace": team, "labels": labels},
            "spec": {"hard": dict(sorted(hard.items()))},
        }
    )
    return objects


def _closed_classes(offers: list[SharingOffer]) -> list[str]:
    classes = {o.device_class for o in offers} | {o.nic_device_class for o in offers if o.nic_device_class}
    for vendor in {o.vendor for o in offers} | {"nvidia"}:
        classes.update(DRIVER_CLASSES[vendor])
    return sorted(classes)


def http_policies(cluster: ClusterSpec) -> bool:
    """Whether the cluster enforces L7 (HTTP) Cilium policies (ACNS security with ``policies: L7``)."""
    networking = cluster.advanced_networking
    return networking.security and networking.policies == "L7"


def ingress_sources(team: str, spec: TeamSpec) -> list[str]:
    """Namespaces whose pods may reach the team's pods: its own, then ``allowIngressFrom``."""
    return [team, *sorted(set(spec.allow_ingress_from) - {team})]


def network_policy(team: str, spec: TeamSpec, exclude_model_servers: bool = False) -> dict[str, Any]:
    """Ingress only from the namespace itself, ``allowIngressFrom`` and the metrics collector's pods.

    On clusters with L7 policies the model servers are left to their own CiliumNetworkPolicy (method and
    path rules on the API port): Cilium adds up allow rules, so a port-wide allow here would void them.
    """
    peers: list[dict[str, Any]] = [{"podSelector": {}}]
    others = ingress_sources(team, spec)[1:]
    if others:
        peers.append(
            {
                "namespaceSelector": {
                    "matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": others}]
                }
            }
        )
    collector_ns, collector_labels = METRICS_COLLECTOR
    peers.append(
        {
            "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: collector_ns}},
            "podSelector": {"matchLabels": dict(collector_labels)},
        }
    )
    selector: dict[str, Any] = {}
    if exclude_model_servers:
        selector = {"matchExpressions": [{"key": MODEL_LABEL, "operator": "DoesNotExist"}]}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": DEFAULT_NETWORK_POLICY, "namespace": team, "labels": {TEAM_LABEL: team}},
        "spec": {"podSelector": selector, "policyTypes": ["Ingress"], "ingress": [{"from": peers}]},
    }


def _node_affinity(allocation_label: str) -> dict[str, Any]:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": LABEL_ALLOCATION, "operator": "In", "values": [allocation_label]},
                            {"key": LABEL_VENDOR, "operator": "In", "values": ["nvidia"]},
                        ]
                    }
                ]
            }
        }
    }


def compute_domains_supported(slots: Iterable[GpuSlot]) -> bool:
    """ComputeDomains need multi-node NVLink (GB200/GB300 NVL racks); no size in the SKU table has it."""
    return any(s.sku.gpu.name.startswith(("GB200", "GB300")) for s in slots)


SHARING_FEATURE_GATES = {"timeShared": "TimeSlicingSettings", "mps": "MPSSupport"}
"""The driver's feature gate each sharing kind needs (pkg/featuregates/featuregates.go at v0.4.0: both alpha,
off by default; without the gate the kubelet plugin refuses a claim whose GpuConfig sets that strategy)."""


def feature_gates(kinds: Iterable[str]) -> dict[str, bool]:
    """The chart's ``featureGates`` for the sharing kinds offered on a cluster."""
    return {SHARING_FEATURE_GATES[k]: True for k in sorted(set(kinds)) if k in SHARING_FEATURE_GATES}


def _pinned_image(chart: str, version: str) -> dict[str, Any]:
    """The chart's ``image.tag`` as ``tag@sha256:...`` at the pinned chart version (components/images.py)."""
    tag = chart_image_tag(chart, version)
    return {"image": {"tag": tag}} if tag else {}


def nvidia_dra_values(slots: list[GpuSlot], gates: dict[str, bool], chart_version: str = "") -> dict[str, Any]:
    nvidia = [s for s in slots if s.sku.gpu.vendor == "nvidia"]
    compute_domains = compute_domains_supported(nvidia)
    return {
        **_pinned_image("dra-driver-nvidia-gpu", chart_version),
        "nvidiaDriverRoot": nvidia_driver_root(nvidia),
        "gpuResourcesEnabledOverride": True,
        "resourceApiVersion": RESOURCE_API_VERSION,
        "resources": {"gpus": {"enabled": True}, "computeDomains": {"enabled": compute_domains}},
        "webhook": {"enabled": compute_domains},
        "featureGates": dict(gates),
        "controller": {
            "nodeSelector": dict(SYSTEM_NODE_SELECTOR),
            "tolerations": [{"key": SYSTEM_TAINT.key, "operator": "Exists"}],
        },
        "kubeletPlugin": {
            "nodeSelector": {LABEL_ALLOCATION: "dra", LABEL_VENDOR: "nvidia"},
            "affinity": _node_affinity("dra"),
            "tolerations": node_agent_tolerations("nvidia"),
        },
    }


def device_plugin_values(slots: list[GpuSlot], chart_version: str = "") -> dict[str, Any]:
    mig = any(s.spec.mig_profile for s in slots)
    return {
        **_pinned_image("nvidia-device-plugin", chart_version),
        "migStrategy": "single" if mig else "none",
        "nodeSelector": {LABEL_ALLOCATION: "device-plugin", LABEL_VENDOR: "nvidia"},
        "affinity": _node_affinity("device-plugin"),
        "tolerations": node_agent_tolerations("nvidia"),
        "gfd": {"enabled": False},
    }
