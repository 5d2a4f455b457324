"""Planned maintenance windows: when AKS itself may upgrade a cluster, so it does not collide with Pulumi.

Builds, from ``clusters.<id>.maintenance``, up to two ``containerservice.MaintenanceConfiguration`` resources
on the cluster:

- ``aksManagedAutoUpgradeSchedule``: when Kubernetes version upgrades may run, both the cluster's own
  auto-upgrade channel and Fleet update runs (Fleet: "All update runs, both manual and automated, honor
  cluster maintenance windows", learn.microsoft.com/azure/kubernetes-fleet/concepts-update-orchestration);
- ``aksManagedNodeOSUpgradeSchedule``: when node OS image upgrades of ``upgrade.nodeOsChannel`` may run.

AKS binds a window to its upgrader by these exact names; any other name gates nothing
(learn.microsoft.com/azure/aks/planned-maintenance; the Azure CLI's ``az aks maintenanceconfiguration add``
accepts only ``default`` and these two). Windows are best effort: AKS may break them for urgent fixes.

Run time: an upgrade AKS starts inside the window is a cluster/agent-pool operation, and AKS runs one at a
time per cluster (409 OperationNotAllowed for the other). So run ``pulumi up`` outside the windows, and the
configurations themselves are written only after the cluster and every pool operation of this deploy
(``depends_on``), one after the other. The whole body is the SDK's ``MaintenanceWindow`` (API 2025-09-01):
``schedule.weekly {dayOfWeek, intervalWeeks}``, ``startTime``, ``durationHours``, ``utcOffset``.
Off by default (no key, no resource): AKS then upgrades at any time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

import pulumi
import pulumi_azure_native as azure_native
from pydantic import Field

from components._common import TYPE_PREFIX, Spec

AUTO_UPGRADE_SCHEDULE = "aksManagedAutoUpgradeSchedule"
NODE_OS_UPGRADE_SCHEDULE = "aksManagedNodeOSUpgradeSchedule"

WeekDay = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
"""The SDK's ``containerservice.WeekDay`` enum values."""
START_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
"""SDK ``MaintenanceWindowArgs.start_time``: "Accepted values are from '00:00' to '23:59'"."""
UTC_OFFSET = r"^[+-](0[0-9]|1[0-4]):(00|30|45)$"
"""SDK ``MaintenanceWindowArgs.utc_offset``: "+/-HH:mm", e.g. '+05:30'; real zones are -12:00..+14:00."""


class WindowSpec(Spec):
    """One recurring window: every ``intervalWeeks`` weeks on ``dayOfWeek`` from ``startTime`` for
    ``durationHours`` (local to ``utcOffset``)."""

    day_of_week: WeekDay
    start_time: Annotated[str, Field(pattern=START_TIME)]
    """``HH:MM``, 00:00-23:59, in ``utcOffset``."""
    duration_hours: Annotated[int, Field(ge=4, le=24)] = 4
    """SDK ``MaintenanceWindowArgs.duration_hours``: "Length of maintenance window range from 4 to 24 hours"."""
    interval_weeks: Annotated[int, Field(ge=1, le=4)] = 1
    """Weekly schedule interval (AKS planned maintenance: every 1 to 4 weeks)."""
    utc_offset: Annotated[str, Field(pattern=UTC_OFFSET)] = "+00:00"


class MaintenanceSpec(Spec):
    """``clusters.<id>.maintenance``: the cluster's planned maintenance windows (each optional)."""

    auto_upgrade: WindowSpec | None = None
    """Kubernetes version upgrades: the cluster's auto-upgrade channel and Fleet update runs."""
    node_os: WindowSpec | None = None
    """Node OS image upgrades of ``upgrade.nodeOsChannel``."""

    def windows(self) -> dict[str, WindowSpec]:
        """Configuration name -> window, in the order they are written."""
        named = {AUTO_UPGRADE_SCHEDULE: self.auto_upgrade, NODE_OS_UPGRADE_SCHEDULE: self.node_os}
        return {name: window for name, window in named.items() if window is not None}


def maintenance_window_args(window: WindowSpec) -> azure_native.containerservice.MaintenanceWindowArgs:
    cs = azure_native.containerservice
    return cs.MaintenanceWindowArgs(
        schedule=cs.ScheduleArgs(
            weekly=cs.WeeklyScheduleArgs(day_of_week=window.day_of_week, interval_weeks=window.interval_weeks)
        ),
        start_time=window.start_time,
        duration_hours=window.duration_hours,
        utc_offset=window.utc_offset,
    )


@dataclass(frozen=True)
class MaintenanceArgs:
    resource_group_name: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    spec: MaintenanceSpec
    after: list[pulumi.Resource] = field(default_factory=list)
    """The cluster and its pools: every operation of this deploy on the cluster that must finish first."""


class MaintenanceWindows(pulumi.ComponentResource):
    """The cluster's ``MaintenanceConfiguration`` resources, written after its pools, one at a time."""

    configurations: dict[str, azure_native.containerservice.MaintenanceConfiguration]

    def __init__(self, name: str, args: MaintenanceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:MaintenanceWindows", name, None, opts)
        self.configurations = {}
        previous: list[pulumi.Resource] = list(args.after)
        for config_name, window in args.spec.windows().items():
            role = "autoupgrade" if config_name == AUTO_UPGRADE_SCHEDULE else "nodeos"
            configuration = azure_native.containerservice.MaintenanceConfiguration(
                f"{name}-{role}",
                resource_group_name=args.resource_group_name,
                resource_name_=args.cluster_name,
                config_name=config_name,
                maintenance_window=maintenance_window_args(window),
                opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
            )
            self.configurations[config_name] = configuration
            previous = [configuration]
        self.register_outputs({"configurations": sorted(self.configurations)})
