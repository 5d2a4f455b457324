"""GPU allocation with Dynamic Resource Allocation: the GPU drivers, sharing profiles and team quotas.

Per cluster (``features.dra: true``) this builds:

- the NVIDIA DRA driver (chart ``dra-driver-nvidia-gpu``, pinned in ``dra.nvidiaDriver``) for NVIDIA pools
  with ``allocation: dra``: GPU allocation on, compute domains off (no Azure size in the SKU table has
  multi-node NVLink), ``nvidiaDriverRoot`` from the pools' driver mode, ``resource.k8s.io/v1`` set
  explicitly, the kubelet plugin only on DRA GPU nodes of both colours (tolerating the GPU and standby
  taints), the controller on system nodes;
- the NVIDIA device plugin (chart ``nvidia-device-plugin``, pinned in ``dra.devicePlugin``) restricted to
  pools with ``allocation: devicePlugin``, so that no node ever has two GPU advertisers;
- one blueprint-owned DeviceClass per sharing profile offered on the cluster (``dra.profiles``): whole
  GPU by model, MIG slice, time-shared GPU (the driver's opaque ``GpuConfig`` in the class, so a claim
  on the class is enough) and GPU + RDMA NIC on one PCIe root; AMD Instinct pools get classes on the AMD
  driver (``gpu.amd.com``) instead;
- per team (``teams``): a namespace (unless Fleet places it: ``fleet.managedNamespaces``), the claim
  templates (time-shared profiles: shared ResourceClaims) the team may use, a ResourceQuota on
  ``<class>.deviceclass.resource.k8s.io/devices`` that also closes every other GPU class of the cluster to
  the team, and (``networkIsolation``, default on) a
  NetworkPolicy that admits ingress only from the namespace itself, the namespaces in
  ``allowIngressFrom`` and the managed Prometheus collector. Egress stays open: model servers download
  weights from Hugging Face (and other hubs) at start, through addresses no policy can pin.

Removing a team from config never opens its namespace: the Namespace, its ResourceQuota and its NetworkPolicy
are ``retainOnDelete`` together (Pulumi forgets them; the namespace stays locked down with its pods until an
operator deletes it). The claim templates and shared claims are deleted: they grant GPUs, they guard nothing.

AMD's DRA driver (ROCm ``k8s-gpu-dra-driver``) publishes no Helm repository that can be pinned here: it
is installed from its release chart (README, "GPU allocation"); the blueprint's AMD classes select its
devices. GPU + NIC profiles need a NIC DRA driver publishing ``dra.net`` devices (DraNet) on RDMA pools.

:func:`sharing_offers` is the pure interface other components (model serving) use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field, model_validator

from components._common import LABEL_PREFIX, SYSTEM_TAINT, TYPE_PREFIX, Issue, Spec, raise_issues
from components.gpu_pools import (
    LABEL_ALLOCATION,
    LABEL_VENDOR,
    GpuPoolGroupSpec,
    GpuSlot,
    gpu_slots,
    node_agent_tolerations,
)
from components.gpu_skus import GPU_SKUS, MIG_PROFILES, GpuModel, GpuSku, MigProfile

if TYPE_CHECKING:
    from components.cluster import ClusterHandle, ClusterSpec
    from stacks.config import PlatformConfig

RESOURCE_API_VERSION = "resource.k8s.io/v1"
NVIDIA_DRIVER = "gpu.nvidia.com"
AMD_DRIVER = "gpu.amd.com"
NIC_DRIVER = "dra.net"
"""DraNet (kubernetes-sigs/dranet) publishes NICs under this driver name, with an ``rdma`` attribute."""
GPU_CONFIG_API_VERSION = "resource.nvidia.com/v1beta1"
PCIE_ROOT = "resource.kubernetes.io/pcieRoot"
CLASS_SUFFIX = "gpu.ai-platform"
NIC_CLASS = "rdma-nic.ai-platform"
DRIVER_CLASSES = {
    "nvidia": ("gpu.nvidia.com", "mig.nvidia.com", "vfio.gpu.nvidia.com"),
    "amd": ("gpu.amd.com",),
}
"""Classes the drivers' own charts create: closed to teams by quota (0), so all GPU use goes through profiles."""
SYSTEM_NODE_SELECTOR = {"kubernetes.azure.com/mode": "system"}
NVIDIA_DRA_NAMESPACE = "nvidia-dra-driver-gpu"
DEVICE_PLUGIN_NAMESPACE = "nvidia-device-plugin"
MTLS_LABEL = "io.cilium/mtls-enabled"
TEAM_LABEL = f"{LABEL_PREFIX}/team"
MODEL_LABEL = f"{LABEL_PREFIX}/model"
"""Carried by the blueprint's model-server pods (components/serving/workload.py)."""
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Set by Kubernetes itself on every namespace (immutable): what a namespaceSelector can safely match."""
DEFAULT_NETWORK_POLICY = "default-deny-ingress-from-other-namespaces"
METRICS_COLLECTOR = ("kube-system", {"rsName": "ama-metrics"})
"""The managed Prometheus collector's replica (it runs the custom PodMonitor/ServiceMonitor scrape jobs)."""
RESERVED_NAMESPACES = frozenset(
    {
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "gatekeeper-system",
        "calico-system",
        NVIDIA_DRA_NAMESPACE,
        DEVICE_PLUGIN_NAMESPACE,
    }
)
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
NAMESPACE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
"""Any namespace name (RFC 1123 label); team keys use the stricter :data:`DNS_LABEL`."""
PROFILE_KEY = r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$"

GPU_MODELS: dict[str, GpuModel] = {sku.gpu.name: sku.gpu for sku in GPU_SKUS.values()}
ProfileKind = Literal["whole", "mig", "timeShared", "gpuNic"]


# --------------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------------


# ResourceClaim and ResourceClaimTemplate specs are immutable (resource.k8s.io/v1 API reference): a changed
# sharing profile cannot be an update, which the API server would refuse. Teams' pods name these objects, so the
# name stays and the object is replaced delete-first: pods already running keep the claims they hold (a
# ResourceClaim in use is deleted only once its pods release it), pods created in between wait for the new one.
IMMUTABLE_SPEC = pulumi.ResourceOptions(replace_on_changes=["spec"], delete_before_replace=True)


class OciChartSpec(Spec):
    chart: Annotated[str, Field(pattern=r"^oci://")] = (
        "oci://registry.k8s.io/dra-driver-nvidia/charts/dra-driver-nvidia-gpu"
    )
    version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")] = "0.4.0"


class RepoChartSpec(Spec):
    repository: Annotated[str, Field(pattern=r"^https://")] = "https://nvidia.github.io/k8s-device-plugin"
    chart: str = "nvidia-device-plugin"
    version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")] = "0.17.1"


class SharingProfileSpec(Spec):
    """One way of handing out GPUs, e.g. ``{kind: mig, gpuModel: A100-80GB, migProfile: MIG1g}``."""

    kind: ProfileKind
    gpu_model: str
    """A GPU model name from components/gpu_skus.py (``T4``, ``A100-80GB``, ``H100``, ``MI300X`` ...)."""
    mig_profile: MigProfile | None = None
    """``kind: mig`` only: the slice size; offered on pools whose slot has this ``migProfile``."""
    replicas: Annotated[int, Field(ge=2, le=64)] | None = None
    """``kind: timeShared`` only: pods planned to share one GPU (through one shared ResourceClaim)."""
    interval: Literal["Default", "Short", "Medium", "Long"] = "Default"
    """``kind: timeShared`` only: the driver's time-slice length."""

    @model_validator(mode="after")
    def _check(self) -> SharingProfileSpec:
        issues: list[Issue] = []
        model = GPU_MODELS.get(self.gpu_model)
        if model is None:
            issues.append(
                Issue(
                    ("gpuModel",),
                    "is not a GPU model this blueprint knows",
                    self.gpu_model,
                    ", ".join(sorted(GPU_MODELS)),
                    "use a model name from components/gpu_skus.py",
                )
            )
        if self.kind == "mig":
            if self.mig_profile is None:
                issues.append(
                    Issue(
                        ("migProfile",),
                        "is required for kind mig",
                        None,
                        ", ".join(MIG_PROFILES),
                        "add migProfile (the slot's migProfile the slices come from)",
                    )
                )
            elif model is not None and self.mig_profile not in model.mig:
                issues.append(
                    Issue(
                        ("migProfile",),
                        f"{self.gpu_model} GPUs have no MIG slices",
                        self.mig_profile,
                        "A100, H100 and H200 models",
                        "use kind whole or timeShared for this model",
                    )
                )
        elif self.mig_profile is not None:
            issues.append(
                Issue(
                    ("migProfile",),
                    f"only applies to kind mig (this profile is {self.kind})",
                    self.mig_profile,
                    "unset",
                    "remove migProfile or set kind: mig",
                )
            )
        if self.kind == "timeShared":
            if self.replicas is None:
                issues.append(
                    Issue(
                        ("replicas",),
                        "is required for kind timeShared",
                        None,
                        "2..64",
                        "add replicas: the number of pods that share one GPU",
                    )
                )
            if model is not None and model.vendor != "nvidia":
                issues.append(
                    Issue(
                        ("kind",),
                        "time-sharing is configured through the NVIDIA driver's GpuConfig",
                        self.kind,
                        "whole, gpuNic for AMD models",
                        "use kind whole",
                    )
                )
        else:
            if self.replicas is not None:
                issues.append(
                    Issue(
                        ("replicas",),
                        f"only applies to kind timeShared (this profile is {self.kind})",
                        self.replicas,
                        "unset",
                        "remove replicas or set kind: timeShared",
                    )
                )
            if self.interval != "Default":
                issues.append(
                    Issue(("interval",), "only applies to kind timeShared", self.interval, "unset", "remove interval")
                )
        raise_issues(issues)
        return self

    @property
    def model(self) -> GpuModel:
        return GPU_MODELS[self.gpu_model]


class DraSpec(Spec):
    """``dra`` in stack config: pinned driver charts and the cluster-independent sharing profiles."""

    nvidia_driver: OciChartSpec = Field(default_factory=OciChartSpec)
    device_plugin: RepoChartSpec = Field(default_factory=RepoChartSpec)
    profiles: dict[Annotated[str, Field(pattern=PROFILE_KEY)], SharingProfileSpec] = Field(default_factory=dict)


class TeamSpec(Spec):
    """``teams.<name>``: a namespace per cluster with the GPU profiles the team may claim, within quota."""

    clusters: list[str] | None = None
    """Clusters the team gets a namespace on; default: every cluster with ``features.dra``."""
    profiles: dict[str, Annotated[int, Field(ge=1, le=4096)]] = Field(default_factory=dict)
    """Profile key -> the most devices of that profile's class the team may hold at once (ResourceQuota)."""
    mtls: bool = False
    """Label the namespace ``io.cilium/mtls-enabled: "true"`` (sidecar-free mTLS opt-in)."""
    network_isolation: bool = True
    """Ingress only from the namespace itself, ``allowIngressFrom`` and the metrics collector; false opens it."""
    allow_ingress_from: list[str] = Field(default_factory=list)
    """Other namespaces (names) whose pods may reach this team's pods, e.g. an ingress controller's."""

    @model_validator(mode="after")
    def _check(self) -> TeamSpec:
        issues: list[Issue] = []
        for i, namespace in enumerate(self.allow_ingress_from):
            if not NAMESPACE_NAME.match(namespace):
                issues.append(
                    Issue(
                        ("allowIngressFrom", i),
                        "is not a namespace name (DNS label)",
                        namespace,
                        NAMESPACE_NAME.pattern,
                        "use the namespace's name, e.g. app-routing-system",
                    )
                )
        if self.allow_ingress_from and not self.network_isolation:
            issues.append(
                Issue(
                    ("allowIngressFrom",),
                    "only applies with networkIsolation true (without it every namespace may connect)",
                    self.allow_ingress_from,
                    "unset",
                    "remove allowIngressFrom or set networkIsolation: true",
                )
            )
        raise_issues(issues)
        return self


# --------------------------------------------------------------------------------------------------------
# Pure model: what each cluster offers
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SharingOffer:
    """One profile as one pool group of one cluster serves it.

    ``per_gpu`` claims (pods) are served by one physical GPU: MIG slices per GPU, time-sharing replicas,
    1 otherwise. Time-shared GPUs are shared by pods that reference one ResourceClaim
    (``shared_claim``): a ResourceClaimTemplate on that class gives each pod a time-sliced GPU of its own.
    """

    profile: str
    kind: ProfileKind
    device_class: str
    pool_group: str
    gpu_model: str
    memory_gib: float
    per_gpu: int
    isolated: bool
    vendor: str = "nvidia"
    gpus_per_node: int = 1
    shared_claim: bool = False
    nic_device_class: str | None = None


def device_class_name(profile: str) -> str:
    return f"{profile}.{CLASS_SUFFIX}"


def quota_key(device_class: str) -> str:
    return f"{device_class}.deviceclass.resource.k8s.io/devices"


def _slot_serves(profile: SharingProfileSpec, sku: GpuSku, mig_profile: str | None) -> bool:
    if sku.gpu.name != profile.gpu_model:
        return False
    if profile.kind == "mig":
        return mig_profile == profile.mig_profile
    if mig_profile is not None:
        return False
    return profile.kind != "gpuNic" or sku.rdma


def _dra_slots(cluster: ClusterSpec) -> list[GpuSlot]:
    if not cluster.features.dra:
        return []
    return [s for g, spec in sorted(cluster.gpu_pools.items()) if spec.allocation == "dra" for s in gpu_slots(g, spec)]


def _offer(name: str, profile: SharingProfileSpec, group: str, sku: GpuSku) -> SharingOffer:
    model = profile.model
    if profile.kind == "mig":
        assert profile.mig_profile is not None
        mig = model.mig[profile.mig_profile]
        memory, per_gpu = mig.memory_gib, mig.per_gpu
    else:
        memory = model.memory_gib
        per_gpu = profile.replicas or 1
    return SharingOffer(
        profile=name,
        kind=profile.kind,
        device_class=device_class_name(name),
        pool_group=group,
        gpu_model=model.name,
        memory_gib=memory,
        per_gpu=per_gpu,
        isolated=profile.kind != "timeShared",
        vendor=model.vendor,
        gpus_per_node=sku.gpu_count,
        shared_claim=profile.kind == "timeShared",
        nic_device_class=NIC_CLASS if profile.kind == "gpuNic" else None,
    )


def offers_for(dra: DraSpec, cluster: ClusterSpec) -> list[SharingOffer]:
    """Every (profile, pool group) pair on ``cluster`` that can serve the profile, in a stable order."""
    found: list[SharingOffer] = []
    slots = _dra_slots(cluster)
    for name, profile in sorted(dra.profiles.items()):
        seen: set[str] = set()
        for slot in slots:
            if slot.group not in seen and _slot_serves(profile, slot.sku, slot.spec.mig_profile):
                seen.add(slot.group)
                found.append(_offer(name, profile, slot.group, slot.sku))
    return found


def sharing_offers(cfg: PlatformConfig, cluster_key: str) -> list[SharingOffer]:
    """The sharing profiles cluster ``cluster_key`` of the root config ``cfg`` offers, one per pool group."""
    return offers_for(cfg.dra, cfg.clusters[cluster_key])


@dataclass(frozen=True)
class SlotCapacity:
    """How many pods one GPU slot (one colour of a pool group) can serve for one profile."""

    profile: str
    slot: GpuSlot
    per_node: int
    at_max: int


def slot_capacity(dra: DraSpec, cluster: ClusterSpec) -> list[SlotCapacity]:
    rows = []
    for slot in _dra_slots(cluster):
        for name, profile in sorted(dra.profiles.items()):
            if _slot_serves(profile, slot.sku, slot.spec.mig_profile):
                per_node = slot.sku.gpu_count * _offer(name, profile, slot.group, slot.sku).per_gpu
                rows.append(SlotCapacity(name, slot, per_node, per_node * slot.spec.max_count))
    return rows


def team_clusters(team: TeamSpec, clusters: dict[str, ClusterSpec]) -> list[str]:
    if team.clusters is not None:
        return list(team.clusters)
    return [key for key, spec in clusters.items() if spec.features.dra]


def nvidia_driver_root(slots: Iterable[GpuSlot]) -> str | None:
    """``/`` when AKS installs the driver, ``/run/nvidia/driver`` with an operator-managed driver."""
    modes = {s.spec.driver for s in slots if s.sku.gpu.vendor == "nvidia"}
    if not modes:
        return None
    return "/" if modes == {"Install"} else "/run/nvidia/driver"


def dra_issues(dra: DraSpec, teams: dict[str, TeamSpec], clusters: dict[str, ClusterSpec]) -> list[Issue]:
    """Cross-key checks of ``dra``, ``teams`` and the clusters' GPU pools (paths from the config root)."""
    issues: list[Issue] = []
    for key, cluster in clusters.items():
        modes: dict[str, tuple[str, str]] = {}
        for group, pool in cluster.gpu_pools.items():
            path = ("clusters", key, "gpuPools", group, "allocation")
            if pool.allocation == "dra" and not cluster.features.dra:
                issues.append(
                    Issue(
                        path,
                        "is dra but the cluster has features.dra false: no driver would advertise "
                        "these GPUs, and a device plugin added later would be a second advertiser",
                        pool.allocation,
                        "devicePlugin when features.dra is false",
                        f"set allocation: devicePlugin, or clusters.{key}.features.dra: true",
                    )
                )
            if pool.allocation == "devicePlugin" and _vendor(pool) == "amd":
                issues.append(
                    Issue(
                        path,
                        "the NVIDIA device plugin cannot advertise AMD GPUs",
                        pool.allocation,
                        "dra for AMD Instinct pools",
                        "set allocation: dra",
                    )
                )
            if pool.allocation == "dra" and cluster.features.dra and _vendor(pool) == "nvidia":
                for colour, slot in pool.slots.items():
                    modes.setdefault(slot.driver, (group, colour))
        if len(modes) > 1:
            odd_group, odd_colour = modes["None"]
            issues.append(
                Issue(
                    ("clusters", key, "gpuPools", odd_group, "slots", odd_colour, "driver"),
                    "differs from other DRA slots of the cluster: the NVIDIA DRA driver's kubelet plugin "
                    "has one nvidiaDriverRoot per cluster",
                    "None",
                    "Install on every DRA slot (or None on every one)",
                    "use one driver mode for all NVIDIA DRA slots of a cluster",
                )
            )

    offered = {key: {o.profile for o in offers_for(dra, c)} for key, c in clusters.items()}
    for name, profile in dra.profiles.items():
        if not any(name in names for names in offered.values()):
            need = {
                "mig": f"a DRA slot with vmSize of {profile.gpu_model} and migProfile {profile.mig_profile}",
                "gpuNic": f"a DRA slot with an RDMA {profile.gpu_model} size and no migProfile",
            }.get(profile.kind, f"a DRA slot with a {profile.gpu_model} size and no migProfile")
            issues.append(
                Issue(
                    ("dra", "profiles", name),
                    "is offered by no GPU pool of any cluster",
                    profile.gpu_model,
                    need,
                    "add such a pool or remove the profile",
                )
            )

    for team, spec in teams.items():
        if not DNS_LABEL.match(team):
            issues.append(
                Issue(
                    ("teams", team),
                    "team key becomes the namespace name and must be a DNS label",
                    team,
                    DNS_LABEL.pattern,
                    "rename the team, e.g. research",
                )
            )
        elif team in RESERVED_NAMESPACES or team.startswith("kube-"):
            issues.append(
                Issue(("teams", team), "names a system namespace", team, "any other DNS label", "rename the team")
            )
        for i, ckey in enumerate(spec.clusters or []):
            if ckey not in clusters:
                issues.append(
                    Issue(
                        ("teams", team, "clusters", i),
                        "names no cluster",
                        ckey,
                        ", ".join(clusters),
                        "use a cluster id from clusters",
                    )
                )
            elif not clusters[ckey].features.dra:
                issues.append(
                    Issue(
                        ("teams", team, "clusters", i),
                        "names a cluster with features.dra false",
                        ckey,
                        "clusters with DRA",
                        f"enable clusters.{ckey}.features.dra",
                    )
                )
        keys = [c for c in team_clusters(spec, clusters) if c in clusters and clusters[c].features.dra]
        if not keys and spec.profiles:
            issues.append(
                Issue(
                    ("teams", team, "clusters"),
                    "no cluster with DRA to place the team on",
                    spec.clusters,
                    "clusters with features.dra true",
                    "enable DRA on a cluster",
                )
            )
        for name in spec.profiles:
            if name not in dra.profiles:
                issues.append(
                    Issue(
                        ("teams", team, "profiles", name),
                        "is not a sharing profile",
                        name,
                        ", ".join(sorted(dra.profiles)) or "(none defined)",
                        "define it under dra.profiles or remove it",
                    )
                )
                continue
            missing = [c for c in keys if name not in offered[c]]
            if missing:
                issues.append(
                    Issue(
                        ("teams", team, "profiles", name),
                        f"is offered by no GPU pool on cluster(s) {', '.join(missing)}",
                        name,
                        ", ".join(sorted(set().union(*(offered[c] for c in missing)))) or "(none)",
                        "add a matching pool there, or limit the team's clusters",
                    )
                )
    return issues


def _vendor(pool: GpuPoolGroupSpec) -> str:
    vendors = {s.sku.gpu.vendor for s in pool.slots.values()}
    return next(iter(vendors)) if len(vendors) == 1 else "mixed"


# --------------------------------------------------------------------------------------------------------
# Kubernetes objects and Helm values (pure)
# --------------------------------------------------------------------------------------------------------


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
    if profile.kind == "timeShared":
        sharing: dict[str, Any] = {"strategy": "TimeSlicing", "timeSlicingConfig": {"interval": profile.interval}}
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
        if profile.kind == "timeShared":
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


def namespace_object(team: str, spec: TeamSpec) -> dict[str, Any]:
    labels = {TEAM_LABEL: team}
    if spec.mtls:
        labels[MTLS_LABEL] = "true"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": team, "labels": labels}}


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


def nvidia_dra_values(slots: list[GpuSlot], time_sharing: bool) -> dict[str, Any]:
    nvidia = [s for s in slots if s.sku.gpu.vendor == "nvidia"]
    compute_domains = compute_domains_supported(nvidia)
    return {
        "nvidiaDriverRoot": nvidia_driver_root(nvidia),
        "gpuResourcesEnabledOverride": True,
        "resourceApiVersion": RESOURCE_API_VERSION,
        "resources": {"gpus": {"enabled": True}, "computeDomains": {"enabled": compute_domains}},
        "webhook": {"enabled": compute_domains},
        "featureGates": {"TimeSlicingSettings": True} if time_sharing else {},
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


def device_plugin_values(slots: list[GpuSlot]) -> dict[str, Any]:
    mig = any(s.spec.mig_profile for s in slots)
    return {
        "migStrategy": "single" if mig else "none",
        "nodeSelector": {LABEL_ALLOCATION: "device-plugin", LABEL_VENDOR: "nvidia"},
        "affinity": _node_affinity("device-plugin"),
        "tolerations": node_agent_tolerations("nvidia"),
        "gfd": {"enabled": False},
    }


# --------------------------------------------------------------------------------------------------------
# Component
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuDraArgs:
    cluster: ClusterHandle
    dra: DraSpec
    teams: dict[str, TeamSpec] = field(default_factory=dict)
    fleet_namespaces: dict[str, pulumi.Resource] = field(default_factory=dict)
    """Team -> the resource that creates its namespace on this cluster when that is not this component (a
    ``FleetManagedNamespace`` placed on it: components/fleet.py). Those teams get no Namespace object here."""


class GpuDra(pulumi.ComponentResource):
    """One cluster's GPU advertisers, sharing-profile classes and team namespaces.

    Nothing here depends on the GPU pool resources: the charts and classes are ready before (and
    independent of) the first GPU node.
    """

    offers: list[SharingOffer]
    releases: dict[str, k8s.helm.v3.Release]
    device_classes: dict[str, k8s.resource.v1.DeviceClass]
    namespaces: dict[str, pulumi.Resource]
    """Team -> what creates its namespace on this cluster: a Namespace here, or the FleetManagedNamespace."""
    claim_templates: dict[str, list[str]]
    network_policies: dict[str, k8s.networking.v1.NetworkPolicy]
    model_ingress: dict[str, list[str]]
    """Team -> namespaces that may call its model servers, for teams whose models need an L7 policy."""

    def __init__(self, name: str, args: GpuDraArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:GpuDra", name, None, opts)
        handle = args.cluster
        provider = handle.provider
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        dra_slots = _dra_slots(handle.spec)
        plugin_slots = [s for s in handle.gpu_slots if s.allocation == "devicePlugin"]
        self.offers = offers_for(args.dra, handle.spec)
        self.releases = {}
        self.device_classes = {}
        self.namespaces = {}
        self.claim_templates = {}
        self.network_policies = {}
        self.model_ingress = {}
        l7 = http_policies(handle.spec)

        nvidia_dra = [s for s in dra_slots if s.sku.gpu.vendor == "nvidia"]
        if nvidia_dra:
            time_sharing = any(o.kind == "timeShared" for o in self.offers)
            self.releases["nvidia-dra"] = k8s.helm.v3.Release(
                f"{name}-nvidia-dra",
                name="nvidia-dra-driver-gpu",
                chart=args.dra.nvidia_driver.chart,
                version=args.dra.nvidia_driver.version,
                namespace=NVIDIA_DRA_NAMESPACE,
                create_namespace=True,
                values=nvidia_dra_values(nvidia_dra, time_sharing),
                opts=child,
            )
        if plugin_slots:
            chart = args.dra.device_plugin
            self.releases["device-plugin"] = k8s.helm.v3.Release(
                f"{name}-device-plugin",
                name="nvidia-device-plugin",
                chart=chart.chart,
                version=chart.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
                namespace=DEVICE_PLUGIN_NAMESPACE,
                create_namespace=True,
                values=device_plugin_values(plugin_slots),
                opts=child,
            )

        for profile in sorted({o.profile for o in self.offers}):
            obj = device_class(profile, args.dra.profiles[profile])
            self.device_classes[profile] = k8s.resource.v1.DeviceClass(
                f"{name}-class-{profile}", metadata=obj["metadata"], spec=obj["spec"], opts=child
            )
        if any(o.nic_device_class for o in self.offers):
            obj = nic_device_class()
            self.device_classes[NIC_CLASS] = k8s.resource.v1.DeviceClass(
                f"{name}-class-rdma-nic", metadata=obj["metadata"], spec=obj["spec"], opts=child
            )

        for team, spec in sorted(args.teams.items()):
            if handle.key not in team_clusters(spec, {handle.key: handle.spec}):
                continue
            namespace: pulumi.Resource
            # The guards (quota, default-deny policy) are retained like the namespace: removing a team from
            # config must leave its namespace locked down as it was (GPU quota, ingress isolation), never open
            # with its pods still running. Retained objects go when the namespace is deleted (by hand, or by
            # Fleet with deletePolicy Delete). README "GPU allocation (DRA)", "Removing a team".
            guard = pulumi.ResourceOptions(retain_on_delete=True)
            if team in args.fleet_namespaces:
                # Fleet creates the namespace, asynchronously after the FleetManagedNamespace: objects created
                # before it exists are retried by the Kubernetes provider until it does.
                namespace = args.fleet_namespaces[team]
            else:
                ns_obj = namespace_object(team, spec)
                # A team namespace holds the team's workloads: dropping it from Pulumi (a team removed from
                # config, or handed over to Fleet) leaves it in the cluster instead of deleting everything in it.
                namespace = k8s.core.v1.Namespace(
                    f"{name}-ns-{team}",
                    metadata=ns_obj["metadata"],
                    opts=pulumi.ResourceOptions.merge(child, guard),
                )
            self.namespaces[team] = namespace
            if spec.network_isolation:
                if l7:
                    self.model_ingress[team] = ingress_sources(team, spec)
                policy = network_policy(team, spec, exclude_model_servers=l7)
                self.network_policies[team] = k8s.networking.v1.NetworkPolicy(
                    f"{name}-{team}-networkpolicy",
                    metadata=policy["metadata"],
                    spec=policy["spec"],
                    opts=pulumi.ResourceOptions.merge(
                        pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[namespace]), guard
                    ),
                )
            in_ns = pulumi.ResourceOptions(
                parent=self,
                provider=provider,
                depends_on=[namespace, *(self.device_classes[p] for p in spec.profiles if p in self.device_classes)],
            )
            self.claim_templates[team] = []
            objects = team_objects(team, spec, args.dra, self.offers)
            # The quota first, so that no claim is ever admitted outside it.
            for obj in sorted(objects, key=lambda o: o["kind"] != "ResourceQuota"):
                meta, kind = obj["metadata"], obj["kind"]
                resource_name = f"{name}-{team}-{kind.lower()}-{meta['name']}"
                if kind == "ResourceQuota":
                    quota = k8s.core.v1.ResourceQuota(
                        resource_name,
                        metadata=meta,
                        spec=obj["spec"],
                        opts=pulumi.ResourceOptions.merge(in_ns, guard),
                    )
                    in_ns = pulumi.ResourceOptions.merge(in_ns, pulumi.ResourceOptions(depends_on=[quota]))
                elif kind == "ResourceClaimTemplate":
                    self.claim_templates[team].append(meta["name"])
                    k8s.resource.v1.ResourceClaimTemplate(
                        resource_name,
                        metadata=meta,
                        spec=obj["spec"],
                        opts=pulumi.ResourceOptions.merge(in_ns, IMMUTABLE_SPEC),
                    )
                else:
                    k8s.resource.v1.ResourceClaim(
                        resource_name,
                        metadata=meta,
                        spec=obj["spec"],
                        opts=pulumi.ResourceOptions.merge(in_ns, IMMUTABLE_SPEC),
                    )

        self.register_outputs(
            {
                "deviceClasses": sorted(self.device_classes),
                "namespaces": sorted(self.namespaces),
                "fleetNamespaces": sorted(t for t in self.namespaces if t in args.fleet_namespaces),
            }
        )


# --------------------------------------------------------------------------------------------------------
# Plan summary (pure)
# --------------------------------------------------------------------------------------------------------


def _unit(profile: SharingProfileSpec) -> str:
    model = profile.model
    if profile.kind == "mig":
        assert profile.mig_profile is not None
        return f"{model.mig[profile.mig_profile].name} MIG slice"
    if profile.kind == "timeShared":
        return f"time-shared {model.name} replica"
    if profile.kind == "gpuNic":
        return f"{model.name} + RDMA NIC"
    return f"whole {model.name}"


def dra_summary_lines(cfg: PlatformConfig) -> list[str]:
    """The plan summary's GPU allocation section: classes, team templates and pods per pool slot."""
    lines = ["GPU allocation (DRA)"]
    dra: DraSpec = cfg.dra
    any_cluster = False
    for key, cluster in cfg.clusters.items():
        if not cluster.features.dra:
            continue
        any_cluster = True
        slots = _dra_slots(cluster)
        nvidia = [s for s in slots if s.sku.gpu.vendor == "nvidia"]
        plugin = [g for g, p in sorted(cluster.gpu_pools.items()) if p.allocation == "devicePlugin"]
        offers = offers_for(dra, cluster)
        driver = (
            f"{dra.nvidia_driver.chart.rsplit('/', 1)[-1]} {dra.nvidia_driver.version} "
            f"(nvidiaDriverRoot {nvidia_driver_root(nvidia)})"
            if nvidia
            else "no NVIDIA DRA pools"
        )
        lines.append(
            f"  {key}: {driver}; device plugin: "
            + (f"{dra.device_plugin.version} on {', '.join(plugin)}" if plugin else "none")
        )
        for name in sorted({o.profile for o in offers}):
            profile = dra.profiles[name]
            groups = ", ".join(o.pool_group for o in offers if o.profile == name)
            lines.append(
                f"    class {device_class_name(name):<32} {profile.kind:<10} {_unit(profile)} (pools {groups})"
            )
        for row in slot_capacity(dra, cluster):
            profile = dra.profiles[row.profile]
            sku = row.slot.sku
            lines.append(
                f"    {row.slot.pool_name:<12} {sku.gpu_count} x {sku.gpu.name}: {row.profile} = {row.per_node} x "
                f"{_unit(profile)} per node, {row.at_max} at maxCount {row.slot.spec.max_count}"
            )
        for team, spec in sorted(cfg.teams.items()):
            if key not in team_clusters(spec, cfg.clusters):
                continue
            parts = []
            for name, quota in sorted(spec.profiles.items()):
                profile = dra.profiles[name]
                if profile.kind == "timeShared":
                    parts.append(f"{name} ({quota} shared claims x {profile.replicas} pods)")
                else:
                    parts.append(f"{name} (template, quota {quota})")
            flags = " [mtls]" if spec.mtls else ""
            if not spec.network_isolation:
                flags += " [no network isolation]"
            elif spec.allow_ingress_from:
                flags += f" [ingress also from {', '.join(sorted(spec.allow_ingress_from))}]"
            lines.append(f"    team {team}{flags}: " + (", ".join(parts) or "no GPU profiles"))
    if not any_cluster:
        lines.append("  (no cluster with features.dra)")
    return lines
