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
  component (components/dra/) creates no Namespace for them there, only what goes inside, after the
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

Files: ``spec.py`` (the ``fleet`` models and checks), ``plans.py`` (what the fleet will do, pure),
``component.py`` (:class:`AksFleet`), ``summary.py`` (the plan summary's section). The composition computes
the fleet namespaces (:func:`fleet_namespaces`) from ``teams`` and hands them to the component.
"""

from components.fleet.component import AksFleet, FleetArgs, FleetNames, team_namespaces_on
from components.fleet.plans import (
    FleetNamespacePlan,
    StagePlan,
    cluster_upgrade_channel,
    fleet_namespaces,
    stage_outputs,
    stage_plan,
    versions_managed_externally,
)
from components.fleet.spec import FleetSpec, fleet_issues
from components.fleet.summary import fleet_summary_lines

__all__ = [
    "AksFleet",
    "FleetArgs",
    "FleetNames",
    "FleetNamespacePlan",
    "FleetSpec",
    "StagePlan",
    "cluster_upgrade_channel",
    "fleet_issues",
    "fleet_namespaces",
    "fleet_summary_lines",
    "stage_outputs",
    "stage_plan",
    "team_namespaces_on",
    "versions_managed_externally",
]
