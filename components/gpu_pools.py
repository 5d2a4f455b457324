"""Blue-green GPU node pools: two permanent slots per pool group, one active, one standby.

A GPU pool group (``gpuPools.<group>`` in stack config) owns up to two ``containerservice.AgentPool``
resources named ``<group>blue`` and ``<group>green``. Exactly one slot is active. The standby slot carries
a taint that keeps new work off it until cut-over, so a new VM size, driver mode, MIG profile or node image
is rolled out by creating the other colour, switching ``active`` and later removing the old slot: every
step is a reviewed configuration change, and rolling back is switching ``active`` back.

AKS rejects concurrent operations on one cluster, so every pool of a cluster waits for the one before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

import pulumi
import pulumi_azure_native as azure_native
from pydantic import Field, model_validator

from components._common import TYPE_PREFIX, Issue, Spec, raise_issues, resource_id_pattern
from components.facts import (
    COLOURS,
    GPU_TAINTS,
    LABEL_ALLOCATION,
    LABEL_COLOUR,
    LABEL_GROUP,
    LABEL_PREFIX,
    LABEL_ROLE,
    LABEL_VENDOR,
    SPOT_TAINT,
    STANDBY_TAINT,
    Colour,
    Taint,
)
from components.gpu_skus import GPU_SKUS, GpuSku, MigProfile, gpu_sku

GpuAllocation = Literal["dra", "devicePlugin"]

POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
GROUP_KEY_MAX = 12 - len("green")
GROUP_ID = rf"^[a-z][a-z0-9]{{0,{GROUP_KEY_MAX - 1}}}$"
"""A pool group's id (its key, or ``renamedFrom``): '<id>blue' and '<id>green' fit AKS's 12 characters."""
SNAPSHOT_ID = resource_id_pattern("Microsoft.ContainerService", "snapshots")
CAPACITY_RESERVATION_ID = resource_id_pattern("Microsoft.Compute", "capacityReservationGroups")
K8S_MINOR = r"^1\.\d{2}$"


class UpgradeSpec(Spec):
    """Surge upgrades inside one slot (node image and patch versions); bigger changes use the other colour."""

    max_surge: Annotated[str, Field(pattern=r"^([1-9][0-9]*|[1-9][0-9]?%|100%)$")] = "1"
    drain_timeout_in_minutes: Annotated[int, Field(ge=1, le=1440)] = 60
    node_soak_duration_in_minutes: Annotated[int, Field(ge=0, le=30)] = 5
    undrainable_node_behavior: Literal["Cordon", "Schedule"] = "Cordon"


class SlotSpec(Spec):
    """One colour of a GPU pool group: an AgentPool of its own."""

    vm_size: str
    min_count: Annotated[int, Field(ge=0, le=1000)] = 0
    max_count: Annotated[int, Field(ge=1, le=1000)]
    kubernetes_version: Annotated[str | None, Field(pattern=K8S_MINOR)] = None
    """Defaults to the cluster's version; may not be newer than the control plane."""
    driver: Literal["Install", "None"] = "Install"
    """``Install``: AKS installs the GPU driver and container toolkit. ``None``: bring your own."""
    mig_profile: MigProfile | None = None
    spot: bool = False
    capacity_reservation_group_id: str | None = None
    snapshot_id: str | None = None
    """A node-pool snapshot to create the slot from: pins a known-good node image and is a rollback target."""
    zones: list[Literal["1", "2", "3"]] | None = None
    """Defaults to the group's zones."""
    os_disk_type: Literal["Ephemeral", "Managed"] = "Managed"
    os_disk_size_gb: Annotated[int, Field(ge=30, le=2048)] = 256

    @model_validator(mode="after")
    def _check(self) -> SlotSpec:
        issues: list[Issue] = []
        if self.min_count > self.max_count:
            issues.append(
                Issue(
                    ("minCount",),
                    "must not exceed maxCount",
                    self.min_count,
                    f"0..{self.max_count}",
                    "lower minCount or raise maxCount",
                )
            )
        sku = gpu_sku(self.vm_size)
        if sku is None:
            issues.append(
                Issue(
                    ("vmSize",),
                    "is not a GPU VM size this blueprint knows",
                    self.vm_size,
                    ", ".join(sorted(GPU_SKUS)),
                    "pick one of the listed sizes (components/gpu_skus.py)",
                )
            )
        elif self.mig_profile is not None and self.mig_profile not in sku.gpu.mig:
            issues.append(
                Issue(
                    ("migProfile",),
                    f"{sku.gpu.name} GPUs ({self.vm_size}) do not support MIG",
                    self.mig_profile,
                    "A100, H100 and H200 sizes",
                    "remove migProfile or choose an A100/H100/H200 VM size",
                )
            )
        if self.snapshot_id is not None and not SNAPSHOT_ID.match(self.snapshot_id):
            issues.append(
                Issue(
                    ("snapshotId",),
                    "is not a node-pool snapshot resource id",
                    self.snapshot_id,
                    "/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.ContainerService/snapshots/<name>",
                    "copy the id from `az aks nodepool snapshot show`",
                )
            )
        if self.capacity_reservation_group_id is not None and not CAPACITY_RESERVATION_ID.match(
            self.capacity_reservation_group_id
        ):
            issues.append(
                Issue(
                    ("capacityReservationGroupId",),
                    "is not a capacity reservation group id",
                    self.capacity_reservation_group_id,
                    "/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Compute/capacityReservationGroups/<name>",
                    "copy the id from `az capacity reservation group show`",
                )
            )
        if self.spot and self.capacity_reservation_group_id is not None:
            issues.append(
                Issue(
                    ("spot",),
                    "spot pools cannot use a capacity reservation",
                    True,
                    "false",
                    "set spot: false or remove capacityReservationGroupId",
                )
            )
        raise_issues(issues)
        return self

    @property
    def sku(self) -> GpuSku:
        found = gpu_sku(self.vm_size)
        assert found is not None, "validated by SlotSpec._check"
        return found


class GpuPoolGroupSpec(Spec):
    """A blue-green pair of GPU pools. ``slots`` says which colours exist, ``active`` which one takes work."""

    active: Colour
    slots: dict[Colour, SlotSpec]
    allocation: GpuAllocation = "dra"
    """Who advertises the GPUs to Kubernetes: the DRA driver (``dra``) or the NVIDIA device plugin."""
    zones: list[Literal["1", "2", "3"]] = Field(default_factory=list)
    upgrade: UpgradeSpec = Field(default_factory=UpgradeSpec)
    max_pods: Annotated[int, Field(ge=10, le=250)] = 30
    renamed_from: Annotated[str, Field(pattern=GROUP_ID)] | None = None
    """The id the group's pools were created under, after the group key was renamed: the pools keep that
    id in their AgentPool names (AKS cannot rename a pool; a new name is a new pool) and in their
    ``ai-platform/gpu-pool`` label, so a rename changes nothing in Azure or Kubernetes. Keep it while the
    group exists; after several renames it is still the first id (the one in the pools' names)."""

    @model_validator(mode="after")
    def _check(self) -> GpuPoolGroupSpec:
        issues: list[Issue] = []
        if not self.slots:
            issues.append(
                Issue(("slots",), "needs at least one slot", {}, "blue, green", "add the slot named by active")
            )
        elif self.active not in self.slots:
            issues.append(
                Issue(
                    ("active",),
                    "names a slot that does not exist (the active slot cannot be removed)",
                    self.active,
                    ", ".join(self.slots),
                    f"add slots.{self.active} back, or switch active to an existing slot first",
                )
            )
        vendors = {s.sku.gpu.vendor for s in self.slots.values() if gpu_sku(s.vm_size)}
        if len(vendors) > 1:
            issues.append(
                Issue(
                    ("slots",),
                    "mixes GPU vendors between colours",
                    sorted(vendors),
                    "one vendor per pool group",
                    "use a separate pool group per vendor",
                )
            )
        raise_issues(issues)
        return self

    @property
    def vendor(self) -> str:
        return self.slots[self.active].sku.gpu.vendor

    def pool_id(self, key: str) -> str:
        """The id in the group's AgentPool names and node labels: ``renamedFrom`` if set, else its key."""
        return self.renamed_from or key


def pool_name(group: str, colour: Colour) -> str:
    """The AgentPool name of one colour of the group whose pool id (:meth:`GpuPoolGroupSpec.pool_id`) is
    ``group``; the pool's logical name in Pulumi is built from it too, so both survive a key rename."""
    return f"{group}{colour}"


def pool_id_issues(groups: dict[str, GpuPoolGroupSpec]) -> list[Issue]:
    """Renames that cannot work, paths from the cluster: two groups with one pool id (their AgentPool names
    would collide), and ``renamedFrom`` equal to the group's own key."""
    issues: list[Issue] = []
    owners: dict[str, str] = {}
    for key, spec in groups.items():
        if spec.renamed_from is None:
            owners.setdefault(key, key)
    for key, spec in groups.items():
        if spec.renamed_from is None:
            continue
        path = ("gpuPools", key, "renamedFrom")
        if spec.renamed_from == key:
            issues.append(Issue(path, "is the group's own key", key, "the group's previous key", "remove renamedFrom"))
            continue
        other = owners.setdefault(spec.renamed_from, key)
        if other != key:
            issues.append(
                Issue(
                    path,
                    f"is also the pool id of group {other}: both would own the AgentPools "
                    f"{pool_name(spec.renamed_from, 'blue')}/{pool_name(spec.renamed_from, 'green')}",
                    spec.renamed_from,
                    "an id no other group of the cluster has (as key or renamedFrom)",
                    "set renamedFrom only on the group that was renamed, to the key it had before",
                )
            )
    return issues


@dataclass(frozen=True)
class GpuSlot:
    """What other components need to know about one colour of a GPU pool group (pure data)."""

    group: str
    colour: Colour
    pool_name: str
    spec: SlotSpec
    active: bool
    allocation: GpuAllocation

    @property
    def sku(self) -> GpuSku:
        return self.spec.sku

    @property
    def pool_id(self) -> str:
        """The group's id in Azure and Kubernetes (AgentPool name prefix, ``ai-platform/gpu-pool`` label):
        ``renamedFrom`` for a renamed group, else ``group`` (the config key)."""
        return self.pool_name.removesuffix(self.colour)

    @property
    def gpu_taint(self) -> Taint:
        return GPU_TAINTS[self.sku.gpu.vendor]

    def node_labels(self) -> dict[str, str]:
        return {
            LABEL_GROUP: self.pool_id,
            LABEL_COLOUR: self.colour,
            LABEL_ROLE: "active" if self.active else "standby",
            LABEL_VENDOR: self.sku.gpu.vendor,
            LABEL_ALLOCATION: "dra" if self.allocation == "dra" else "device-plugin",
        }

    def taints(self) -> list[Taint]:
        """The taints the blueprint sets on the pool (AKS adds the spot taint to spot pools by itself)."""
        return [self.gpu_taint] + ([] if self.active else [STANDBY_TAINT])

    def workload_tolerations(self) -> list[dict[str, str]]:
        """What a GPU workload placed on this slot tolerates: the GPU taint, and AKS's spot taint if spot."""
        return [self.gpu_taint.toleration()] + ([SPOT_TAINT.toleration()] if self.spec.spot else [])


def gpu_slots(group: str, spec: GpuPoolGroupSpec) -> list[GpuSlot]:
    """The group's slots in a stable order (blue before green)."""
    return [
        GpuSlot(
            group,
            colour,
            pool_name(spec.pool_id(group), colour),
            spec.slots[colour],
            colour == spec.active,
            spec.allocation,
        )
        for colour in COLOURS
        if colour in spec.slots
    ]


def node_agent_tolerations(vendor: str) -> list[dict[str, str]]:
    """Tolerations of a per-node GPU agent (driver plugin, exporter): every GPU node of ``vendor``, both
    colours (the standby slot is tainted) and spot slots (tainted by AKS)."""
    return [GPU_TAINTS[vendor].toleration(), STANDBY_TAINT.toleration(), SPOT_TAINT.toleration()]


@dataclass(frozen=True)
class GpuPoolsArgs:
    resource_group_name: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    cluster_version: str
    groups: dict[str, GpuPoolGroupSpec]
    subnet_id: pulumi.Input[str]
    tags: dict[str, str]
    encryption_at_host: bool = True
    versions_managed_externally: bool = False
    """Fleet (or the cluster's rapid/stable channel) upgrades the pools: ``orchestratorVersion`` is ignored."""


class BlueGreenGpuPools(pulumi.ComponentResource):
    """All GPU pool groups of one cluster, as one AgentPool per existing slot, serialized in a chain."""

    pools: dict[str, azure_native.containerservice.AgentPool]
    slots: list[GpuSlot]

    def __init__(self, name: str, args: GpuPoolsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:BlueGreenGpuPools", name, None, opts)
        self.slots = [slot for group, spec in sorted(args.groups.items()) for slot in gpu_slots(group, spec)]
        self.pools = {}
        previous: pulumi.Resource | None = None
        for slot in self.slots:
            group_spec = args.groups[slot.group]
            depends_on = [previous] if previous else []
            pool = _agent_pool(
                f"{name}-{slot.pool_name}",
                slot,
                group_spec,
                args,
                pulumi.ResourceOptions(parent=self, depends_on=depends_on),
            )
            self.pools[slot.pool_name] = pool
            previous = pool
        self.register_outputs({"pools": {k: p.name for k, p in self.pools.items()}})


def _agent_pool(
    resource_name: str, slot: GpuSlot, group: GpuPoolGroupSpec, args: GpuPoolsArgs, opts: pulumi.ResourceOptions
) -> azure_native.containerservice.AgentPool:
    spec = slot.spec
    containerservice = azure_native.containerservice
    return containerservice.AgentPool(
        resource_name,
        resource_group_name=args.resource_group_name,
        resource_name_=args.cluster_name,
        agent_pool_name=slot.pool_name,
        mode=containerservice.AgentPoolMode.USER,
        os_type=containerservice.OSType.LINUX,
        os_sku=containerservice.OSSKU.UBUNTU,
        vm_size=spec.vm_size,
        orchestrator_version=spec.kubernetes_version or args.cluster_version,
        enable_auto_scaling=True,
        min_count=spec.min_count,
        max_count=spec.max_count,
        count=spec.min_count,
        availability_zones=spec.zones if spec.zones is not None else (group.zones or None),
        vnet_subnet_id=args.subnet_id,
        max_pods=group.max_pods,
        os_disk_type=spec.os_disk_type,
        os_disk_size_gb=spec.os_disk_size_gb,
        enable_node_public_ip=False,
        enable_encryption_at_host=args.encryption_at_host,
        gpu_profile=containerservice.GPUProfileArgs(driver=spec.driver),
        gpu_instance_profile=spec.mig_profile,
        node_labels=slot.node_labels(),
        node_taints=[t.aks() for t in slot.taints()],
        scale_set_priority=containerservice.ScaleSetPriority.SPOT if spec.spot else None,
        scale_set_eviction_policy=containerservice.ScaleSetEvictionPolicy.DELETE if spec.spot else None,
        spot_max_price=-1 if spec.spot else None,
        capacity_reservation_group_id=spec.capacity_reservation_group_id,
        creation_data=containerservice.CreationDataArgs(source_resource_id=spec.snapshot_id)
        if spec.snapshot_id
        else None,
        upgrade_settings=containerservice.AgentPoolUpgradeSettingsArgs(
            max_surge=group.upgrade.max_surge,
            drain_timeout_in_minutes=group.upgrade.drain_timeout_in_minutes,
            node_soak_duration_in_minutes=group.upgrade.node_soak_duration_in_minutes,
            undrainable_node_behavior=group.upgrade.undrainable_node_behavior,
        ),
        tags={
            **args.tags,
            f"{LABEL_PREFIX}-color": slot.colour,
            f"{LABEL_PREFIX}-slot-role": "active" if slot.active else "standby",
        },
        opts=pulumi.ResourceOptions.merge(
            opts,
            # No delete_before_replace: a change that would replace a slot in place (VM size, MIG profile, ...)
            # then fails on the existing pool name instead of deleting a pool that may be serving. Such
            # changes go through the other colour (see the blue-green runbook).
            # With versions managed externally, Fleet's update runs (or the cluster's channel) upgrade every pool
            # to the new minor; re-sending the slot's "1.34" would be a downgrade AKS rejects. The engine then
            # sends the state's value (`pulumi up --refresh` keeps it live); a new slot is still created with the
            # program's version, so bump kubernetesVersion to the fleet's minor after a run (README "Fleet").
            pulumi.ResourceOptions(
                ignore_changes=["count", *(["orchestratorVersion"] if args.versions_managed_externally else [])],
                custom_timeouts=pulumi.CustomTimeouts(create="60m", update="90m", delete="60m"),
            ),
        ),
    )
