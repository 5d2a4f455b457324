"""Azure Kubernetes Fleet Manager: one fleet per stack (or a shared one), staged upgrades, team namespaces.

Builds, from the root ``fleet`` key:

- a ``Fleet`` (in its own resource group in the stack's ``location``), or nothing when
  ``existingFleetId`` points at a shared fleet;
- a ``FleetMember`` per member cluster, carrying the cluster's update group;
- a ``FleetUpdateStrategy``: the ordered stages (for example ``canary`` then ``rest``), each naming the
  groups it upgrades in parallel and how long to wait before the next stage;
- an ``AutoUpgradeProfile`` bound to that strategy (channel ``Stable``, ``Rapid`` or ``NodeImage``), so a
  new AKS release becomes an update run that walks the stages. When it exists, member clusters get
  ``autoUpgradeProfile.upgradeChannel: none`` (see :func:`cluster_upgrade_channel`): two upgraders racing
  on one cluster is how canaries get skipped;
- opt-in: a ``FleetManagedNamespace`` per team on member clusters (hub fleets only, preview API), placed on
  the team's member clusters with its CPU/memory quota and labels. Fleet then owns those namespaces: the DRA
  component (components/dra.py) creates no Namespace for them there, only what goes inside, after the
  FleetManagedNamespace (:func:`team_namespaces_on`);
- opt-in: a ``MeshMembership`` per listed cluster (Azure Kubernetes Application Network, preview API).

Update runs are operations, not state: nothing here starts, stops or records a run (README "Fleet"). A run
upgrades the control plane and every pool of a member, one AKS operation after another, and AKS refuses a
second operation on a cluster while one runs (409 OperationNotAllowed): start runs outside deploy windows,
and let them happen only inside the members' ``aksManagedAutoUpgradeSchedule`` (components/maintenance.py),
which every run honours. When a version channel drives the members, their clusters and pools ignore
``kubernetesVersion``/``orchestratorVersion`` (:func:`versions_managed_externally`).

API versions of the installed azure-native SDK (its defaults; others need ``pulumi package add``):
Fleet, FleetMember, FleetUpdateStrategy, AutoUpgradeProfile 2024-05-02-preview; FleetManagedNamespace
2025-08-01-preview; MeshMembership 2025-08-02-preview. ``TargetKubernetesVersion`` auto-upgrade and
``longTermSupport`` exist only in later AutoUpgradeProfile API versions and are refused here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import pulumi
import pulumi_azure_native as azure_native
from pydantic import Field, model_validator

from components._common import LABEL_PREFIX, TYPE_PREFIX, Issue, Spec, azure_name, raise_issues, resource_id_pattern
from components.cluster import ClusterHandle, ClusterSpec
from components.dra import NAMESPACE_NAME, RESERVED_NAMESPACES, TeamSpec, namespace_object, team_clusters
from components.observability import DCGM_NAMESPACE

FLEET_CHILD_NAME = r"^[a-z0-9]([-a-z0-9]{0,48}[a-z0-9])?$"
"""Fleet child names (members, groups, stages, strategies, profiles): 1-50, lowercase, digits, hyphens."""
FLEET_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.ContainerService/fleets/"
    r"(?P<name>[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)$",
    re.IGNORECASE,
)
APPLINK_MEMBER_ID = resource_id_pattern("Microsoft.AppLink", "applinks", "appLinkMembers")
CPU_QUANTITY = r"^([0-9]+m|[0-9]+(\.[0-9]{1,3})?)$"
MEMORY_QUANTITY = r"^[0-9]+(Ki|Mi|Gi|Ti|Pi|Ei)$"
SDK_AUTO_UPGRADE_API = "2024-05-02-preview"
OWNER_LABEL = f"{LABEL_PREFIX}/owner"
PLATFORM_NAMESPACES = RESERVED_NAMESPACES | {DCGM_NAMESPACE}
"""Namespaces that Kubernetes or the platform's charts create on every cluster: never fleet namespaces."""

Channel = Literal["Stable", "Rapid", "NodeImage", "TargetKubernetesVersion"]
NodeImageSelection = Literal["Latest", "Consistent"]
PolicyRule = Literal["DenyAll", "AllowAll", "AllowSameNamespace"]


class FleetMemberSpec(Spec):
    group: Annotated[str, Field(pattern=FLEET_CHILD_NAME)]
    """The update group of this cluster; stages upgrade groups, not clusters."""


class StageSpec(Spec):
    groups: Annotated[list[Annotated[str, Field(pattern=FLEET_CHILD_NAME)]], Field(min_length=1)]
    """Groups upgraded in parallel in this stage."""
    after_stage_wait_in_seconds: Annotated[int, Field(ge=0)] = 0
    """Soak time after this stage before the next starts (watch the canary's dashboards here)."""


class UpdateStrategySpec(Spec):
    name: Annotated[str, Field(pattern=FLEET_CHILD_NAME)] = "staged"
    """Strategy name (prefixed with the environment, so stacks can share a fleet)."""
    stages: Annotated[dict[Annotated[str, Field(pattern=FLEET_CHILD_NAME)], StageSpec], Field(min_length=1)]
    """Stages keyed by name, in upgrade order (the order written in the stack file)."""


class AutoUpgradeSpec(Spec):
    channel: Channel = "Stable"
    """Stable (N-1 minor), Rapid (latest minor), NodeImage (node images only)."""
    target_kubernetes_version: Annotated[str, Field(pattern=r"^1\.[0-9]{2}$")] | None = None
    node_image_selection: NodeImageSelection = "Consistent"
    """Consistent: every cluster gets the same node image (the newest available in all regions)."""
    disabled: bool = False
    """Pause auto-upgrade without deleting the profile (no new runs are generated)."""


class QuotaSpec(Spec):
    cpu_request: Annotated[str, Field(pattern=CPU_QUANTITY)] | None = None
    cpu_limit: Annotated[str, Field(pattern=CPU_QUANTITY)] | None = None
    memory_request: Annotated[str, Field(pattern=MEMORY_QUANTITY)] | None = None
    memory_limit: Annotated[str, Field(pattern=MEMORY_QUANTITY)] | None = None
    ingress: PolicyRule = "AllowSameNamespace"
    egress: PolicyRule = "AllowAll"


class ManagedNamespacesSpec(Spec):
    enabled: bool = False
    """Off by default: with it on, Fleet owns the team namespaces on member clusters (README: one owner)."""
    adoption_policy: Literal["Never", "IfIdentical", "Always"] = "Never"
    delete_policy: Literal["Keep", "Delete"] = "Keep"
    defaults: QuotaSpec = Field(default_factory=QuotaSpec)
    """CPU/memory quota of every team namespace without its own entry (a team's network policy is its own)."""
    namespaces: dict[Annotated[str, Field(pattern=NAMESPACE_NAME.pattern)], QuotaSpec] = Field(default_factory=dict)
    """A team's quota override (cpu/memory keys only), and namespaces that are not teams (quota and rules)."""


class FleetSpec(Spec):
    existing_fleet_id: str | None = None
    """Join a shared fleet by resource id instead of creating one for this stack."""
    hub: bool = False
    """Create the fleet with a hub cluster (needed for managed namespaces; fixed at creation)."""
    members: Annotated[dict[str, FleetMemberSpec], Field(min_length=1)]
    update_strategy: UpdateStrategySpec | None = None
    auto_upgrade: AutoUpgradeSpec | None = None
    managed_namespaces: ManagedNamespacesSpec = Field(default_factory=ManagedNamespacesSpec)
    mesh: dict[str, str] = Field(default_factory=dict)
    """Cluster id -> Azure Kubernetes Application Network member id (MeshMembership). Empty: no mesh."""

    @model_validator(mode="after")
    def _check(self) -> FleetSpec:
        issues: list[Issue] = []
        if self.existing_fleet_id is not None and not FLEET_ID.match(self.existing_fleet_id):
            issues.append(
                Issue(
                    ("existingFleetId",),
                    "is not a fleet resource id",
                    self.existing_fleet_id,
                    "/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.ContainerService/fleets/<name>",
                    "copy the id from `az fleet show -g <rg> -n <name> --query id`",
                )
            )
        if self.existing_fleet_id is not None and self.hub:
            issues.append(
                Issue(
                    ("hub",),
                    "is a property of the shared fleet, fixed when it was created",
                    True,
                    "false with existingFleetId",
                    "remove hub (the shared fleet decides)",
                )
            )
        if self.existing_fleet_id is not None and self.auto_upgrade and not self.update_strategy:
            issues.append(
                Issue(
                    ("autoUpgrade",),
                    "without updateStrategy would upgrade every member of the shared "
                    "fleet, including other stacks' clusters",
                    "autoUpgrade without updateStrategy",
                    "autoUpgrade together with updateStrategy",
                    "add updateStrategy with this stack's groups",
                )
            )
        if self.auto_upgrade:
            issues.extend(_auto_upgrade_issues(self.auto_upgrade))
        if self.update_strategy:
            issues.extend(self._strategy_issues(self.update_strategy))
        if self.managed_namespaces.enabled and not self.hub and self.existing_fleet_id is None:
            issues.append(
                Issue(
                    ("managedNamespaces", "enabled"),
                    "needs a fleet with a hub cluster",
                    True,
                    "true only with hub: true",
                    "set fleet.hub: true (a new fleet) or turn it off",
                )
            )
        for key, member_id in self.mesh.items():
            if not APPLINK_MEMBER_ID.match(member_id):
                issues.append(
                    Issue(
                        ("mesh", key),
                        "is not an Application Network member id",
                        member_id,
                        "/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.AppLink/applinks/"
                        "<name>/appLinkMembers/<member>",
                        "use the AppLink member's resource id",
                    )
                )
            if key not in self.members:
                issues.append(
                    Issue(
                        ("mesh", key),
                        "names a cluster that is not a fleet member",
                        key,
                        ", ".join(self.members),
                        "add it to fleet.members or remove it from mesh",
                    )
                )
        raise_issues(issues)
        return self

    def _strategy_issues(self, strategy: UpdateStrategySpec) -> list[Issue]:
        issues: list[Issue] = []
        member_groups = {m.group for m in self.members.values()}
        seen: dict[str, str] = {}
        for stage, spec in strategy.stages.items():
            for i, group in enumerate(spec.groups):
                path = ("updateStrategy", "stages", stage, "groups", i)
                if group in seen:
                    issues.append(
                        Issue(
                            path,
                            f"group is already upgraded in stage {seen[group]!r}",
                            group,
                            "each group in exactly one stage",
                            "remove the duplicate",
                        )
                    )
                    continue
                seen[group] = stage
                if group not in member_groups:
                    issues.append(
                        Issue(
                            path,
                            "no member cluster is in this group",
                            group,
                            ", ".join(sorted(member_groups)),
                            "set fleet.members.<cluster>.group to it or remove it from the stage",
                        )
                    )
        for key, member in self.members.items():
            if member.group not in seen:
                issues.append(
                    Issue(
                        ("members", key, "group"),
                        "no stage upgrades this group, so the cluster would never be upgraded",
                        member.group,
                        ", ".join(seen),
                        "add the group to a stage of fleet.updateStrategy.stages",
                    )
                )
        return issues


def _auto_upgrade_issues(auto: AutoUpgradeSpec) -> list[Issue]:
    issues: list[Issue] = []
    if auto.channel == "TargetKubernetesVersion":
        issues.append(
            Issue(
                ("autoUpgrade", "channel"),
                "is not offered by the AutoUpgradeProfile API of the "
                f"installed azure-native SDK ({SDK_AUTO_UPGRADE_API}; later API versions add it "
                "with targetKubernetesVersion)",
                auto.channel,
                "Stable, Rapid, NodeImage",
                "use Stable, or pin the minor with clusters.<id>.kubernetesVersion and manual update runs",
            )
        )
    if auto.target_kubernetes_version is not None:
        issues.append(
            Issue(
                ("autoUpgrade", "targetKubernetesVersion"),
                f"is not accepted by the AutoUpgradeProfile API {SDK_AUTO_UPGRADE_API} of the installed SDK",
                auto.target_kubernetes_version,
                "unset",
                "remove it",
            )
        )
    return issues


def fleet_issues(
    fleet: FleetSpec, clusters: Mapping[str, ClusterSpec], teams: Mapping[str, TeamSpec] | None = None
) -> list[Issue]:
    """Cross-checks between ``fleet``, ``clusters`` and (if present) ``teams``; paths are relative to the root
    configuration."""
    issues: list[Issue] = _managed_namespace_issues(fleet, clusters, teams)
    for key in fleet.members:
        if key not in clusters:
            issues.append(
                Issue(
                    ("fleet", "members", key),
                    "is not a cluster id of this stack",
                    key,
                    ", ".join(clusters),
                    "use a key of clusters",
                )
            )
        elif not clusters[key].features.fleet:
            issues.append(
                Issue(
                    ("fleet", "members", key),
                    "is a cluster with features.fleet: false",
                    key,
                    "clusters that join the fleet",
                    f"set clusters.{key}.features.fleet: true or remove the member",
                )
            )
    for key, spec in clusters.items():
        if key not in fleet.members and spec.features.fleet:
            issues.append(
                Issue(
                    ("clusters", key, "features", "fleet"),
                    "is true but the cluster is not in fleet.members",
                    True,
                    "false for clusters outside the fleet",
                    f"add fleet.members.{key} with its update group, or set features.fleet: false",
                )
            )
        explicit_channel = "upgrade" in spec.model_fields_set and "channel" in spec.upgrade.model_fields_set
        if key in fleet.members and fleet.auto_upgrade and explicit_channel and spec.upgrade.channel != "none":
            issues.append(
                Issue(
                    ("clusters", key, "upgrade", "channel"),
                    "would race the fleet's auto-upgrade "
                    "(fleet.autoUpgrade upgrades member clusters; their own channel is none)",
                    spec.upgrade.channel,
                    "none, or unset",
                    f"remove clusters.{key}.upgrade.channel (nodeOsChannel stays the cluster's)",
                )
            )
    return issues


def _managed_namespace_issues(
    fleet: FleetSpec, clusters: Mapping[str, ClusterSpec], teams: Mapping[str, TeamSpec] | None
) -> list[Issue]:
    """One owner, one source of truth per namespace.

    A team on member clusters is a fleet namespace there (quota from ``managedNamespaces``, labels and
    network policy from ``teams.<team>``); refused are the names whose ownership would still conflict:
    namespaces the platform or Kubernetes creates itself, a ``namespaces.<team>`` entry for a team on no
    member cluster, and network rules on a team's entry (the team's own keys decide them)."""
    managed = fleet.managed_namespaces
    if not managed.enabled:
        return []
    teams = teams or {}
    issues: list[Issue] = []
    for namespace, quota in managed.namespaces.items():
        path: tuple[str | int, ...] = ("fleet", "managedNamespaces", "namespaces", namespace)
        if namespace in PLATFORM_NAMESPACES or namespace.startswith("kube-"):
            issues.append(
                Issue(
                    path,
                    "is a namespace Kubernetes or the platform's own charts create on every cluster; "
                    "a fleet namespace of that name would give it two owners",
                    namespace,
                    f"any other name (not kube-*, {', '.join(sorted(PLATFORM_NAMESPACES))})",
                    f"remove fleet.managedNamespaces.namespaces.{namespace}",
                )
            )
            continue
        team = teams.get(namespace)
        if team is None:
            continue
        on = team_clusters(team, dict(clusters))
        if not any(key in fleet.members for key in on):
            issues.append(
                Issue(
                    path,
                    f"names team {namespace!r}, which is on no fleet member cluster (teams.{namespace} creates "
                    f"that namespace on {', '.join(on) or 'no cluster'}): a fleet namespace would put a second, "
                    "different namespace of that name on the members",
                    namespace,
                    "entries for teams on member clusters, or for namespaces that are not teams",
                    f"remove the entry, or add a member cluster to teams.{namespace}.clusters",
                )
            )
            continue
        for rule in ("ingress", "egress"):
            if rule in quota.model_fields_set:
                issues.append(
                    Issue(
                        (*path, rule),
                        f"would give team {namespace!r} a second network policy source: a team namespace's "
                        f"policy comes from teams.{namespace}.networkIsolation and allowIngressFrom",
                        getattr(quota, rule),
                        "unset for team namespaces (only cpu/memory quota keys)",
                        f"remove it and set teams.{namespace}.networkIsolation / allowIngressFrom instead",
                    )
                )
    return issues


@dataclass(frozen=True)
class FleetNamespacePlan:
    """One ``FleetManagedNamespace``: where it is placed and what it carries (pure, from the config)."""

    team: str | None
    """The team it is the namespace of (None for ``managedNamespaces.namespaces`` entries that are not teams)."""
    clusters: tuple[str, ...]
    """Member cluster ids it is placed on (PickFixed)."""
    quota: QuotaSpec
    ingress: PolicyRule
    egress: PolicyRule
    labels: dict[str, str]


def fleet_namespaces(
    fleet: FleetSpec, teams: Mapping[str, TeamSpec] | None, clusters: Mapping[str, ClusterSpec]
) -> dict[str, FleetNamespacePlan]:
    """Namespace -> its fleet namespace. Empty when managed namespaces are off.

    Every team with a member cluster gets one, placed on its member clusters, with the CPU/memory quota of
    ``managedNamespaces.namespaces.<team>`` (else ``defaults``), the team's labels, and a default network
    policy that adds nothing to the team's own NetworkPolicy (components/dra.py): ingress ``DenyAll`` when
    the team is isolated (NetworkPolicies add up, so the team's policy decides who gets in; a Fleet
    ``AllowSameNamespace`` would reopen L7-policed model servers to their namespace), ``AllowAll`` when it
    is not; egress ``AllowAll`` (model servers download weights). Entries that are not teams are placed on
    every member with their own quota and rules."""
    managed = fleet.managed_namespaces
    if not managed.enabled:
        return {}
    teams = teams or {}
    plans: dict[str, FleetNamespacePlan] = {}
    for team, spec in teams.items():
        on = set(team_clusters(spec, dict(clusters)))
        members = tuple(key for key in fleet.members if key in on)
        if not members:
            continue
        plans[team] = FleetNamespacePlan(
            team=team,
            clusters=members,
            quota=managed.namespaces.get(team, managed.defaults),
            ingress="DenyAll" if spec.network_isolation else "AllowAll",
            egress="AllowAll",
            labels={**namespace_object(team, spec)["metadata"]["labels"], OWNER_LABEL: "fleet"},
        )
    for namespace, quota in managed.namespaces.items():
        if namespace not in teams:
            plans[namespace] = FleetNamespacePlan(
                team=None,
                clusters=tuple(fleet.members),
                quota=quota,
                ingress=quota.ingress,
                egress=quota.egress,
                labels={OWNER_LABEL: "fleet"},
            )
    return plans


def cluster_upgrade_channel(fleet: FleetSpec | None, key: str, spec: ClusterSpec) -> str:
    """The cluster's own auto-upgrade channel: ``none`` when the fleet's auto-upgrade profile drives it."""
    if fleet is not None and fleet.auto_upgrade is not None and key in fleet.members:
        return "none"
    return spec.upgrade.channel


VERSION_MOVING_CHANNELS = frozenset({"Stable", "Rapid"})
"""Fleet auto-upgrade channels whose runs change the Kubernetes minor (``NodeImage`` changes node images only)."""
CLUSTER_MINOR_CHANNELS = frozenset({"rapid", "stable"})
"""The cluster's own channels that move the minor (``patch`` stays on it, ``node-image``/``none`` keep it)."""


def versions_managed_externally(fleet: FleetSpec | None, key: str, spec: ClusterSpec) -> bool:
    """Whether something other than Pulumi moves this cluster's Kubernetes minor after creation.

    True for a member of a fleet whose auto-upgrade profile uses a version channel (``Stable``/``Rapid``, even
    while ``disabled``: runs it already generated still upgrade), and for a cluster whose own effective channel
    is ``rapid`` or ``stable``. The cluster then ignores changes to ``kubernetesVersion`` and every
    ``orchestratorVersion``, so an update never re-sends an older minor (README "Fleet")."""
    if fleet is not None and fleet.auto_upgrade is not None and key in fleet.members:
        return fleet.auto_upgrade.channel in VERSION_MOVING_CHANNELS
    return cluster_upgrade_channel(fleet, key, spec) in CLUSTER_MINOR_CHANNELS


@dataclass(frozen=True)
class StagePlan:
    name: str
    groups: tuple[str, ...]
    clusters: tuple[str, ...]
    after_stage_wait_in_seconds: int


def stage_plan(fleet: FleetSpec | None) -> list[StagePlan]:
    """Which clusters each stage would upgrade, in order (empty without a strategy)."""
    if fleet is None or fleet.update_strategy is None:
        return []
    return [
        StagePlan(
            name,
            tuple(stage.groups),
            tuple(key for key, m in fleet.members.items() if m.group in stage.groups),
            stage.after_stage_wait_in_seconds,
        )
        for name, stage in fleet.update_strategy.stages.items()
    ]


@dataclass(frozen=True)
class FleetArgs:
    spec: FleetSpec
    environment: str
    location: str
    clusters: dict[str, ClusterHandle]
    """Every cluster of the stack; only those in ``spec.members`` join."""
    tags: dict[str, str]
    teams: Mapping[str, TeamSpec] = field(default_factory=dict)
    """The root ``teams``: with managed namespaces on, each team on member clusters is a fleet namespace."""
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
        self.namespace_plans = fleet_namespaces(spec, args.teams, {k: h.spec for k, h in args.clusters.items()})
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


def stage_outputs(fleet: FleetSpec | None) -> list[dict[str, Any]]:
    """The stage plan as plain stack-output values (config-derived, known before anything exists)."""
    return [
        {
            "stage": s.name,
            "groups": list(s.groups),
            "clusters": list(s.clusters),
            "afterStageWaitInSeconds": s.after_stage_wait_in_seconds,
        }
        for s in stage_plan(fleet)
    ]


def fleet_summary_lines(fleet: FleetSpec | None) -> list[str]:
    """The plan summary's Fleet section: which clusters each stage of an update run would upgrade."""
    if fleet is None:
        return ["Fleet update stages", "  (no fleet: each cluster follows its own upgrade.channel)"]
    driver = "no auto-upgrade profile: runs start by hand"
    if fleet.auto_upgrade:
        state = "disabled" if fleet.auto_upgrade.disabled else "on"
        driver = (
            f"auto-upgrade {fleet.auto_upgrade.channel} ({state}), node images "
            f"{fleet.auto_upgrade.node_image_selection}; member clusters' own channel: none"
        )
    lines = [f"Fleet update stages ({driver})"]
    stages = stage_plan(fleet)
    if not stages:
        lines.append("  (no update strategy: a run upgrades members one by one) " + ", ".join(fleet.members))
    for i, stage in enumerate(stages, 1):
        wait = f", then wait {stage.after_stage_wait_in_seconds}s" if stage.after_stage_wait_in_seconds else ""
        lines.append(
            f"  {i}. {stage.name:<10} groups {','.join(stage.groups):<16} -> clusters {', '.join(stage.clusters)}{wait}"
        )
    return lines
