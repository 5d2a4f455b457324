"""Configuration of Fleet: the root ``fleet`` key (members, update strategy, auto-upgrade, managed namespaces,
mesh) and its checks against ``clusters`` and ``teams``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator

from components._common import Issue, Spec, raise_issues, resource_id_pattern
from components.facts import PLATFORM_NAMESPACES
from components.teams import NAMESPACE_NAME, TeamSpec, team_clusters

if TYPE_CHECKING:
    from components.cluster import ClusterSpec

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
INT32_MAX = 2**31 - 1
"""The largest value of an ARM ``int32`` property (about 68 years in seconds)."""

Channel = Literal["Stable", "Rapid", "NodeImage", "TargetKubernetesVersion"]
NodeImageSelection = Literal["Latest", "Consistent"]
PolicyRule = Literal["DenyAll", "AllowAll", "AllowSameNamespace"]


class FleetMemberSpec(Spec):
    group: Annotated[str, Field(pattern=FLEET_CHILD_NAME)]
    """The update group of this cluster; stages upgrade groups, not clusters."""


class StageSpec(Spec):
    groups: Annotated[list[Annotated[str, Field(pattern=FLEET_CHILD_NAME)]], Field(min_length=1)]
    """Groups upgraded in parallel in this stage."""
    after_stage_wait_in_seconds: Annotated[int, Field(ge=0, le=INT32_MAX)] = 0
    """Soak time after this stage before the next starts (watch the canary's dashboards here). The REST API types
    it int32 (``UpdateStage.afterStageWaitInSeconds``, ``int?`` in Azure.ResourceManager.ContainerServiceFleet):
    anything larger is refused by Azure, so it is refused here first."""


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
