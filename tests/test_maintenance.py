"""Fleet-owned versions are ignored by Pulumi, and AKS's own upgrades are held to planned maintenance windows."""

from __future__ import annotations

from typing import Any

import pytest

from components.fleet import versions_managed_externally
from stacks.config import load_config
from tests.helpers import SOURCE, changed, cli_map, config_errors

CLUSTER = "azure-native:containerservice:ManagedCluster"
POOL = "azure-native:containerservice:AgentPool"
MEMBER = "azure-native:containerservice:FleetMember"
MAINTENANCE = "azure-native:containerservice:MaintenanceConfiguration"
VERSION_PATHS = {"kubernetesVersion", "agentPoolProfiles[*].orchestratorVersion"}


def of_type(document: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in document["resources"] if r["type"] == type_]


# --- Fleet (or a minor-moving channel) owns the versions: Pulumi ignores them ---------------------------


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_fleet_auto_upgraded_clusters_ignore_their_pinned_versions(plan_documents, stack: str) -> None:
    document = plan_documents[stack]
    clusters = of_type(document, CLUSTER)
    assert clusters
    for cluster in clusters:
        assert cluster["inputs"]["kubernetesVersion"] == "1.34"  # still seeds the create
        assert set(cluster["ignoreChanges"]) >= VERSION_PATHS, cluster["name"]
        assert "agentPoolProfiles[0].count" in cluster["ignoreChanges"]  # the autoscaler's, as before
    pools = of_type(document, POOL)
    assert pools
    for pool in pools:
        assert pool["inputs"]["orchestratorVersion"] == "1.34"
        assert set(pool["ignoreChanges"]) == {"count", "orchestratorVersion"}, pool["name"]


def test_clusters_pulumi_upgrades_keep_their_versions_managed(plan_documents) -> None:
    (cluster,) = of_type(plan_documents["dev"], CLUSTER)  # no fleet, channel patch: the minor is Pulumi's
    assert not VERSION_PATHS & set(cluster["ignoreChanges"])
    for pool in of_type(plan_documents["dev"], POOL):
        assert pool["ignoreChanges"] == ["count"], pool["name"]


def _cfg(fleet: dict[str, Any] | None, channel: str | None = None) -> Any:
    cluster: dict[str, Any] = {"location": "westeurope", "kubernetesVersion": "1.34"}
    if channel is not None:
        cluster["upgrade"] = {"channel": channel}
    values: dict[str, Any] = {
        "environment": "dev",
        "owner": "o",
        "costCenter": "c",
        "location": "westeurope",
        "clusters": {"weu1": cluster},
    }
    if fleet is not None:
        values["fleet"] = {"members": {"weu1": {"group": "all"}}, **fleet}
    return load_config(cli_map(values), SOURCE)


@pytest.mark.parametrize(
    ("fleet", "channel", "expected"),
    [
        ({"autoUpgrade": {"channel": "Stable"}}, None, True),
        ({"autoUpgrade": {"channel": "Rapid", "disabled": True}}, None, True),  # paused runs still upgrade
        ({"autoUpgrade": {"channel": "NodeImage"}}, None, False),  # node images only: the minor stays
        ({}, None, False),  # no profile: runs by hand, the minor is bumped in config with them
        (None, "stable", True),
        (None, "rapid", True),
        (None, "patch", False),  # patches within the pinned minor
        (None, "node-image", False),
        (None, "none", False),
    ],
)
def test_who_moves_the_minor(fleet: dict[str, Any] | None, channel: str | None, expected: bool) -> None:
    cfg = _cfg(fleet, channel)
    assert versions_managed_externally(cfg.fleet, "weu1", cfg.clusters["weu1"]) is expected


# --- maintenance windows ---------------------------------------------------------------------------------


def test_prod_windows_are_the_configured_ones(plan_documents) -> None:
    configs = {r["name"]: r["inputs"] for r in of_type(plan_documents["prod"], MAINTENANCE)}
    assert {n: (i["resourceName"], i["configName"]) for n, i in configs.items()} == {
        "weu1-maintenance-autoupgrade": ("aks-aiplat-prod-weu1", "aksManagedAutoUpgradeSchedule"),
        "weu1-maintenance-nodeos": ("aks-aiplat-prod-weu1", "aksManagedNodeOSUpgradeSchedule"),
        "neu1-maintenance-autoupgrade": ("aks-aiplat-prod-neu1", "aksManagedAutoUpgradeSchedule"),
        "neu1-maintenance-nodeos": ("aks-aiplat-prod-neu1", "aksManagedNodeOSUpgradeSchedule"),
    }
    assert configs["weu1-maintenance-autoupgrade"]["maintenanceWindow"] == {
        "schedule": {"weekly": {"dayOfWeek": "Tuesday", "intervalWeeks": 1}},
        "startTime": "02:00",
        "durationHours": 4,
        "utcOffset": "+01:00",
    }
    assert configs["neu1-maintenance-nodeos"]["maintenanceWindow"] == {
        "schedule": {"weekly": {"dayOfWeek": "Friday", "intervalWeeks": 1}},
        "startTime": "02:00",
        "durationHours": 4,
        "utcOffset": "+00:00",
    }


def test_staging_has_both_windows(plan_documents) -> None:
    configs = {r["inputs"]["configName"]: r["inputs"] for r in of_type(plan_documents["staging"], MAINTENANCE)}
    assert set(configs) == {"aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule"}
    assert configs["aksManagedAutoUpgradeSchedule"]["maintenanceWindow"]["schedule"]["weekly"]["dayOfWeek"] == "Monday"


def test_windows_are_written_after_every_pool_operation_and_before_the_member_joins(plan_documents) -> None:
    prod = plan_documents["prod"]
    by_name = {r["name"]: r for r in prod["resources"]}
    for key in ("weu1", "neu1"):
        auto = by_name[f"{key}-maintenance-autoupgrade"]
        nodeos = by_name[f"{key}-maintenance-nodeos"]
        pools = [p["urn"] for p in of_type(prod, POOL) if p["name"].startswith(f"{key}-gpu-")]
        assert pools
        assert {by_name[f"{key}-aks"]["urn"], *pools} <= set(auto["dependencies"])
        assert auto["urn"] in nodeos["dependencies"]  # one write at a time on the cluster
        member = by_name[f"fleet-member-{key}"]
        assert {auto["urn"], nodeos["urn"]} <= set(member["dependencies"])


def test_no_windows_configured_no_maintenance_resource(plan_documents) -> None:
    assert not of_type(plan_documents["dev"], MAINTENANCE)


WINDOW = {"dayOfWeek": "Sunday", "startTime": "01:00", "durationHours": 6, "utcOffset": "+01:00"}
BASE: dict[str, Any] = {
    "environment": "dev",
    "owner": "o",
    "costCenter": "c",
    "location": "westeurope",
    "clusters": {"weu1": {"location": "westeurope", "kubernetesVersion": "1.34", "maintenance": {"nodeOs": WINDOW}}},
}
KEY = "ai-platform:clusters.weu1.maintenance.nodeOs"


def test_a_valid_window_loads() -> None:
    cfg = load_config(cli_map(BASE), SOURCE)
    window = cfg.clusters["weu1"].maintenance.node_os
    assert window is not None
    assert (window.day_of_week, window.start_time, window.duration_hours, window.interval_weeks) == (
        "Sunday",
        "01:00",
        6,
        1,
    )


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("durationHours", 3, "(got 3; allowed: >= 4)"),
        ("durationHours", 25, "(got 25; allowed: <= 24)"),
        ("intervalWeeks", 5, "(got 5; allowed: <= 4)"),
        ("startTime", "24:00", "(got '24:00'; allowed: matches"),
        ("startTime", "2:00", "(got '2:00'; allowed: matches"),
        ("utcOffset", "+1", "(got '+1'; allowed: matches"),
        ("dayOfWeek", "Mon", "(got 'Mon'; allowed: 'Monday'"),
        ("weekday", "Monday", "unknown key (got 'weekday'; allowed: dayOfWeek"),
    ],
)
def test_bad_window_values_are_one_line_errors(field: str, value: Any, fragment: str) -> None:
    errors = config_errors(changed(BASE, ["clusters", "weu1", "maintenance", "nodeOs", field], value))
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"Pulumi.test.yaml: {KEY}.{field}: "), errors[0]
    assert fragment in errors[0], errors[0]
    assert "\n" not in errors[0]
