"""The ``AksFleet`` component: the fleet (or a shared one), its members, update strategy, auto-upgrade profile,
fleet-managed namespaces and mesh memberships.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pulumi
import pulumi_azure_native as azure_native

from components._common import TYPE_PREFIX, azure_name
from components.fleet.plans import FleetNamespacePlan
from components.fleet.spec import (
    FLEET_ID,
    FleetSpec,
)

if TYPE_CHECKING:
    from components.cluster import ClusterHandle


@dataclass(frozen=True)
class FleetArgs:
    spec: FleetSpec
    environment: str
    location: str
    clusters: dict[str, ClusterHandle]
    """Every cluster of the stack; only those in ``spec.members`` join."""
    tags: dict[str, str]
    namespaces: Mapping[str, FleetNamespacePlan] = field(default_factory=dict)
    """Namespace -> its fleet namespace (:func:`~components.fleet.plans.fleet_namespaces`); empty when off."""
    name_prefix: str = "aiplat"
    protect: bool = False
    cluster_operations: Mapping[str, list[pulumi.Resource]] = field(default_factory=dict)
    """Cluster id -> further writes on that cluster (maintenance configurations) its member waits for."""


@dataclass(frozen=True)
class FleetNames:
    resource_group: str
    fleet: str
    members: dict[str, str]
    strategy: str | None
    auto_upgrade: str | None

    @staticmethod
    def of(args: FleetArgs) -> FleetNames:
        spec, env = args.spec, args.environment
        if spec.existing_fleet_id:
            match = FLEET_ID.match(spec.existing_fleet_id)
            assert match is not None  # validated by FleetSpec
            rg, fleet = match.group("rg"), match.group("name")
        else:
            rg = azure_name("rg", args.name_prefix, env, "fleet", max_len=90)
            fleet = azure_name("fleet", args.name_prefix, env, max_len=63)
        return FleetNames(
            resource_group=rg,
            fleet=fleet,
            members={key: azure_name(env, key, max_len=50) for key in spec.members},
            strategy=azure_name(env, spec.update_strategy.name, max_len=50) if spec.update_strategy else None,
            auto_upgrade=azure_name(env, spec.auto_upgrade.channel, max_len=50) if spec.auto_upgrade else None,
        )


class AksFleet(pulumi.ComponentResource):
    """The stack's fleet, its members, update strategy, auto-upgrade profile and opt-in extras."""

    names: FleetNames
    fleet: azure_native.containerservice.Fleet | None
    members: dict[str, azure_native.containerservice.FleetMember]
    strategy: azure_native.containerservice.FleetUpdateStrategy | None
    auto_upgrade: azure_native.containerservice.AutoUpgradeProfile | None
    namespace_plans: dict[str, FleetNamespacePlan]
    namespaces: dict[str, azure_native.containerservice.FleetManagedNamespace]
    mesh: dict[str, azure_native.containerservice.MeshMembership]

    def __init__(self, name: str, args: FleetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:AksFleet", name, None, opts)
        cs = azure_native.containerservice
        spec = args.spec
        self.names = names = FleetNames.of(args)
        anchor: list[pulumi.Resource] = []
        self.fleet = None
        if spec.existing_fleet_id is None:
            rg = azure_native.resources.ResourceGroup(
                f"{name}-rg",
                resource_group_name=names.resource_group,
                location=args.location,
                tags=args.tags,
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
            )
            self.fleet = cs.Fleet(
                f"{name}-fleet",
                resource_group_name=names.resource_group,
                fleet_name=names.fleet,
                location=args.location,
                hub_profile=cs.FleetHubProfileArgs(
                    dns_prefix=azure_name(args.name_prefix, args.environment, "fleet", max_len=54)
                )
                if spec.hub
                else None,
                tags=args.tags,
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect, depends_on=[rg]),
            )
            anchor = [self.fleet]

        def child(after: list[pulumi.Resource]) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, depends_on=[*anchor, *after])

        self.members = {}
        for key, member in spec.members.items():
            handle = args.clusters[key]
            # Joining touches the cluster: wait for its pool operations (AKS refuses concurrent ones).
            self.members[key] = cs.FleetMember(
                f"{name}-member-{key}",
                resource_group_name=names.resource_group,
                fleet_name=names.fleet,
                fleet_member_name=names.members[key],
                cluster_resource_id=handle.cluster_id,
                group=member.group,
                opts=child([handle.cluster, *handle.gpu_pool_resources, *args.cluster_operations.get(key, [])]),
            )
        member_list: list[pulumi.Resource] = list(self.members.values())

        self.strategy = None
        if spec.update_strategy:
            self.strategy = cs.FleetUpdateStrategy(
                f"{name}-strategy",
                resource_group_name=names.resource_group,
                fleet_name=names.fleet,
                update_strategy_name=names.strategy,
                strategy=cs.UpdateRunStrategyArgs(
                    stages=[
                        cs.UpdateStageArgs(
                            name=stage,
                            groups=[cs.UpdateGroupArgs(name=g) for g in stage_spec.groups],
                            after_stage_wait_in_seconds=stage_spec.after_stage_wait_in_seconds,
                        )
                        for stage, stage_spec in spec.update_strategy.stages.items()
                    ]
                ),
                opts=child(member_list),
            )

        self.auto_upgrade = None
        if spec.auto_upgrade:
            self.auto_upgrade = cs.AutoUpgradeProfile(
                f"{name}-autoupgrade",
                resource_group_name=names.resource_group,
                fleet_name=names.fleet,
                auto_upgrade_profile_name=names.auto_upgrade,
                # The SDK's UpgradeChannel enum is the cluster's (lower-case); Fleet takes these strings.
                channel=spec.auto_upgrade.channel,
                update_strategy_id=self.strategy.id if self.strategy else None,
                node_image_selection=cs.AutoUpgradeNodeImageSelectionArgs(type=spec.auto_upgrade.node_image_selection),
                disabled=spec.auto_upgrade.disabled,
                opts=child([*member_list, *([self.strategy] if self.strategy else [])]),
            )

        self.namespaces = {}
        mn = spec.managed_namespaces
        self.namespace_plans = dict(args.namespaces)
        for namespace, plan in self.namespace_plans.items():
            quota = plan.quota
            self.namespaces[namespace] = cs.FleetManagedNamespace(
                f"{name}-ns-{namespace}",
                resource_group_name=names.resource_group,
                fleet_name=names.fleet,
                managed_namespace_name=namespace,
                location=args.location,
                tags=args.tags,
                properties=cs.FleetManagedNamespacePropertiesArgs(
                    adoption_policy=mn.adoption_policy,
                    delete_policy=mn.delete_policy,
                    managed_namespace_properties=cs.ManagedNamespacePropertiesArgs(
                        labels=plan.labels,
                        default_resource_quota=cs.ResourceQuotaArgs(
                            cpu_request=quota.cpu_request,
                            cpu_limit=quota.cpu_limit,
                            memory_request=quota.memory_request,
                            memory_limit=quota.memory_limit,
                        ),
                        # The SDK types this field with a same-named enum; the wire shape is {ingress, egress}.
                        default_network_policy=cs.NetworkPoliciesArgs(  # type: ignore[arg-type]
                            ingress=plan.ingress, egress=plan.egress
                        ),
                    ),
                    propagation_policy=cs.PropagationPolicyArgs(
                        type=cs.PropagationType.PLACEMENT,
                        placement_profile=cs.PlacementProfileArgs(
                            default_cluster_resource_placement=cs.PlacementV1ClusterResourcePlacementSpecArgs(
                                policy=cs.PlacementV1PlacementPolicyArgs(
                                    placement_type=cs.PlacementType.PICK_FIXED,
                                    cluster_names=[names.members[k] for k in plan.clusters],
                                )
                            )
                        ),
                    ),
                ),
                # Placement names members: they (and so their clusters' pool operations) come first.
                opts=child([self.members[k] for k in plan.clusters]),
            )

        self.mesh = {}
        for key, member_id in spec.mesh.items():
            handle = args.clusters[key]
            self.mesh[key] = cs.MeshMembership(
                f"{name}-mesh-{key}",
                resource_group_name=handle.resource_group_name,
                resource_name_=handle.name,
                mesh_membership_name=azure_name(args.environment, key, "mesh", max_len=50),
                properties=cs.MeshMembershipPropertiesArgs(managed_mesh_id=member_id),
                opts=child([self.members[key]]),
            )

        self.register_outputs({"fleetName": names.fleet, "fleetResourceGroup": names.resource_group})


def team_namespaces_on(fleet: AksFleet | None, cluster: str) -> dict[str, pulumi.Resource]:
    """Team -> the FleetManagedNamespace that creates that team's namespace on ``cluster`` (what the cluster's
    in-namespace objects wait for instead of a Kubernetes Namespace of their own)."""
    if fleet is None:
        return {}
    return {
        ns: fleet.namespaces[ns] for ns, plan in fleet.namespace_plans.items() if plan.team and cluster in plan.clusters
    }
