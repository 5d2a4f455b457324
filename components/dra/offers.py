"""What each cluster offers: the sharing profiles its GPU pools can serve, one offer per pool group.

Pure: :func:`offers_for` is what model serving places its models on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from components.dra.spec import (
    CLASS_SUFFIX,
    NIC_CLASS,
    SHARED_CLAIM_KINDS,
    DraSpec,
    ProfileKind,
    SharingProfileSpec,
)
from components.gpu_pools import GpuSlot, gpu_slots
from components.gpu_skus import GpuSku

if TYPE_CHECKING:
    from components.cluster import ClusterSpec


@dataclass(frozen=True)
class SharingOffer:
    """One profile as one pool group of one cluster serves it.

    ``per_gpu`` claims (pods) are served by one physical GPU: MIG slices per GPU, time-sharing replicas,
    MPS clients per GPU, 1 otherwise. Time-shared and MPS GPUs are shared by pods that reference one ResourceClaim
    (``shared_claim``): a ResourceClaimTemplate on that class gives each pod a time-sliced GPU of its own.
    ``memory_gib`` is what one claim's pod may use: the slice, the MPS client's pinned limit, or the GPU.
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
    elif profile.kind == "mps":
        # Each MPS client is limited to its pinned memory and its thread share: that is what one pod gets.
        memory, per_gpu = float(profile.mps_memory_gib), profile.replicas or 1
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
        shared_claim=profile.kind in SHARED_CLAIM_KINDS,
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


def nvidia_driver_root(slots: Iterable[GpuSlot]) -> str | None:
    """``/`` when AKS installs the driver, ``/run/nvidia/driver`` with an operator-managed driver."""
    modes = {s.spec.driver for s in slots if s.sku.gpu.vendor == "nvidia"}
    if not modes:
        return None
    return "/" if modes == {"Install"} else "/run/nvidia/driver"
