"""What the fleet will do, from configuration alone (pure): fleet-managed team namespaces, the clusters' own
upgrade channel, whether something other than Pulumi moves their versions, and the update stages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from components.facts import OWNER_LABEL
from components.fleet.spec import (
    FleetSpec,
    PolicyRule,
    QuotaSpec,
)
from components.teams import TeamSpec, namespace_object, team_clusters

if TYPE_CHECKING:
    from components.cluster import ClusterSpec


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
    policy that adds nothing to the team's own NetworkPolicy (components/dra/): ingress ``DenyAll`` when
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
