"""Fleet Manager: the prod two-region layout, every fleet resource's inputs, opt-in branches, config errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components._common import ConfigError
from components.fleet import FleetSpec, cluster_upgrade_channel, fleet_namespaces, stage_plan
from stacks.config import load_config
from stacks.critical_path import prerequisites
from stacks.plan import Plan, run_plan
from stacks.summary import render_summary
from tests.conftest import ROOT
from tests.helpers import changed, cli_map
from tests.k8s_schema import k8s_objects, validate_strict

SOURCE = "Pulumi.test.yaml"
FLEET = "azure-native:containerservice:Fleet"
MEMBER = "azure-native:containerservice:FleetMember"
STRATEGY = "azure-native:containerservice:FleetUpdateStrategy"
PROFILE = "azure-native:containerservice:AutoUpgradeProfile"
NAMESPACE = "azure-native:containerservice:FleetManagedNamespace"
MESH = "azure-native:containerservice:MeshMembership"
CLUSTER = "azure-native:containerservice:ManagedCluster"
FLEET_TYPES = {FLEET, MEMBER, STRATEGY, PROFILE, NAMESPACE, MESH}
SHARED_FLEET = "/subscriptions/1111/resourceGroups/rg-shared/providers/Microsoft.ContainerService/fleets/fleet-shared"
APPLINK = "/subscriptions/1111/resourceGroups/rg-net/providers/Microsoft.AppLink/applinks/mesh1/appLinkMembers/weu1"


def of_type(document: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in document["resources"] if r["type"] == type_]


def by_name(document: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in of_type(document, type_)}


# --- the prod two-region layout ---------------------------------------------------------------------


def test_prod_is_one_fleet_with_a_canary_stage_then_the_rest(plan_documents) -> None:
    prod = plan_documents["prod"]
    (fleet,) = of_type(prod, FLEET)
    assert fleet["inputs"]["fleetName"] == "fleet-aiplat-prod"
    assert fleet["inputs"]["resourceGroupName"] == "rg-aiplat-prod-fleet"
    assert fleet["inputs"]["location"] == "westeurope"
    assert "hubProfile" not in fleet["inputs"]  # hubless: update orchestration needs no hub
    assert fleet["protect"] is True  # prod protects stateful resources

    members = by_name(prod, MEMBER)
    assert {n: (m["inputs"]["fleetMemberName"], m["inputs"]["group"]) for n, m in members.items()} == {
        "fleet-member-weu1": ("prod-weu1", "canary"),
        "fleet-member-neu1": ("prod-neu1", "rest"),
    }
    (strategy,) = of_type(prod, STRATEGY)
    assert strategy["inputs"]["updateStrategyName"] == "prod-staged"
    assert strategy["inputs"]["strategy"]["stages"] == [
        {"name": "canary", "groups": [{"name": "canary"}], "afterStageWaitInSeconds": 3600},
        {"name": "rest", "groups": [{"name": "rest"}], "afterStageWaitInSeconds": 0},
    ]
    assert prod["outputs"]["fleetUpdateStages"] == [
        {"stage": "canary", "groups": ["canary"], "clusters": ["weu1"], "afterStageWaitInSeconds": 3600},
        {"stage": "rest", "groups": ["rest"], "clusters": ["neu1"], "afterStageWaitInSeconds": 0},
    ]


def test_members_join_the_fleet_after_their_cluster_and_pools(plan_documents) -> None:
    prod = plan_documents["prod"]
    clusters = {r["name"]: r["urn"] for r in of_type(prod, CLUSTER)}
    pools = [r for r in prod["resources"] if r["type"] == "azure-native:containerservice:AgentPool"]
    (fleet,) = of_type(prod, FLEET)
    for key in ("weu1", "neu1"):
        member = by_name(prod, MEMBER)[f"fleet-member-{key}"]
        assert member["inputs"]["fleetName"] == "fleet-aiplat-prod"
        assert clusters[f"{key}-aks"] in member["dependencies"]  # clusterResourceId is the cluster's id
        assert fleet["urn"] in member["dependencies"]
        own_pools = [p["urn"] for p in pools if p["name"].startswith(f"{key}-gpu-")]
        assert own_pools
        assert set(own_pools) <= set(member["dependencies"])  # no concurrent operation on the cluster


def test_auto_upgrade_profile_is_bound_to_the_strategy(plan_documents) -> None:
    prod = plan_documents["prod"]
    (profile,) = of_type(prod, PROFILE)
    (strategy,) = of_type(prod, STRATEGY)
    assert profile["inputs"]["channel"] == "Stable"
    assert profile["inputs"]["autoUpgradeProfileName"] == "prod-stable"
    assert profile["inputs"]["nodeImageSelection"] == {"type": "Consistent"}
    assert profile["inputs"]["disabled"] is False
    assert profile["inputs"]["fleetName"] == "fleet-aiplat-prod"
    # updateStrategyId is the strategy's id (unknown until created): the dependency proves the binding.
    assert strategy["urn"] in profile["dependencies"]


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_member_clusters_do_not_auto_upgrade_themselves(plan_documents, stack: str) -> None:
    for cluster in of_type(plan_documents[stack], CLUSTER):
        profile = cluster["inputs"]["autoUpgradeProfile"]
        assert profile["upgradeChannel"] == "none", cluster["name"]
        assert profile["nodeOSUpgradeChannel"] == "NodeImage", cluster["name"]  # node OS patching stays


def test_member_clusters_pass_the_upgrade_channel_policy(plans: dict[str, Plan]) -> None:
    for stack in ("prod", "staging"):
        assert not [v for v in plans[stack].policy_violations if "upgrade-channel" in json.dumps(v)], stack


def test_staging_is_a_single_stage_fleet(plan_documents) -> None:
    staging = plan_documents["staging"]
    (member,) = of_type(staging, MEMBER)
    assert member["inputs"]["group"] == "staging"
    (strategy,) = of_type(staging, STRATEGY)
    assert [s["name"] for s in strategy["inputs"]["strategy"]["stages"]] == ["all"]


def test_dev_has_no_fleet_and_keeps_its_own_channel(plan_documents) -> None:
    dev = plan_documents["dev"]
    assert not [r for r in dev["resources"] if r["type"] in FLEET_TYPES]
    (cluster,) = of_type(dev, CLUSTER)
    assert cluster["inputs"]["autoUpgradeProfile"]["upgradeChannel"] == "patch"


def test_plan_summary_shows_which_clusters_each_stage_upgrades(plans: dict[str, Plan]) -> None:
    text = render_summary(plans["prod"])
    section = text[text.index("Fleet update stages") :].splitlines()
    assert "auto-upgrade Stable (on)" in section[0]
    assert "canary" in section[1]
    assert "clusters weu1" in section[1]
    assert "wait 3600s" in section[1]
    assert "rest" in section[2]
    assert "clusters neu1" in section[2]
    assert "no fleet" in render_summary(plans["dev"])


# --- opt-in branches: shared fleet, mesh, hub with managed namespaces --------------------------------


def stack_values(fleet: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "environment": "dev",
        "owner": "platform",
        "costCenter": "cc",
        "location": "westeurope",
        "clusters": {"weu1": {"location": "westeurope", "kubernetesVersion": "1.34", **extra}},
        "fleet": fleet,
    }


def plan_for(tmp_path: Path, name: str, values: dict[str, Any]) -> dict[str, Any]:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": {f"ai-platform:{k}": v for k, v in values.items()}}))
    return run_plan(name, path).to_json()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    fleet = {
        "existingFleetId": SHARED_FLEET,
        "members": {"weu1": {"group": "stg-canary"}},
        "updateStrategy": {"name": "stg", "stages": {"first": {"groups": ["stg-canary"]}}},
        "autoUpgrade": {"channel": "NodeImage", "nodeImageSelection": "Latest", "disabled": True},
        "mesh": {"weu1": APPLINK},
    }
    return plan_for(tmp_path_factory.mktemp("fleet"), "shared", stack_values(fleet))


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    fleet = {
        "hub": True,
        "members": {"weu1": {"group": "all"}},
        "managedNamespaces": {
            "enabled": True,
            "defaults": {"cpuRequest": "4", "memoryRequest": "16Gi"},
            "namespaces": {
                "research": {
                    "cpuRequest": "500m",
                    "cpuLimit": "8",
                    "memoryRequest": "8Gi",
                    "memoryLimit": "32Gi",
                    "ingress": "DenyAll",
                    "egress": "AllowSameNamespace",
                }
            },
        },
    }
    return plan_for(tmp_path_factory.mktemp("fleet"), "hub", stack_values(fleet))


def test_shared_fleet_is_referenced_not_created(shared: dict[str, Any]) -> None:
    assert not of_type(shared, FLEET)
    assert not [r for r in shared["resources"] if r["name"] == "fleet-rg"]
    (member,) = of_type(shared, MEMBER)
    assert member["inputs"]["resourceGroupName"] == "rg-shared"
    assert member["inputs"]["fleetName"] == "fleet-shared"
    assert member["inputs"]["fleetMemberName"] == "dev-weu1"  # environment-prefixed: unique in the fleet
    (strategy,) = of_type(shared, STRATEGY)
    assert strategy["inputs"]["updateStrategyName"] == "dev-stg"
    (profile,) = of_type(shared, PROFILE)
    assert profile["inputs"]["channel"] == "NodeImage"
    assert profile["inputs"]["autoUpgradeProfileName"] == "dev-nodeimage"
    assert profile["inputs"]["nodeImageSelection"] == {"type": "Latest"}
    assert profile["inputs"]["disabled"] is True
    assert shared["outputs"]["fleetName"] == "fleet-shared"


def test_mesh_membership_joins_the_cluster_to_the_application_network(shared: dict[str, Any]) -> None:
    (mesh,) = of_type(shared, MESH)
    assert mesh["inputs"]["properties"] == {"managedMeshID": APPLINK}  # the wire name
    assert mesh["inputs"]["resourceName"] == "aks-aiplat-dev-weu1"
    assert mesh["inputs"]["meshMembershipName"] == "dev-weu1-mesh"
    (member,) = of_type(shared, MEMBER)
    assert member["urn"] in mesh["dependencies"]


def test_hub_fleet_and_managed_namespaces(hub: dict[str, Any]) -> None:
    (fleet,) = of_type(hub, FLEET)
    assert fleet["inputs"]["hubProfile"] == {"dnsPrefix": "aiplat-dev-fleet"}
    (ns,) = of_type(hub, NAMESPACE)  # created once, placed on every member
    assert ns["inputs"]["managedNamespaceName"] == "research"
    assert ns["inputs"]["location"] == "westeurope"
    props = ns["inputs"]["properties"]
    assert props["adoptionPolicy"] == "Never"  # never take over a namespace someone else created
    assert props["deletePolicy"] == "Keep"  # deleting the Azure resource never deletes workloads
    ns_props = props["managedNamespaceProperties"]
    assert ns_props["defaultResourceQuota"] == {
        "cpuRequest": "500m",
        "cpuLimit": "8",
        "memoryRequest": "8Gi",
        "memoryLimit": "32Gi",
    }
    assert ns_props["defaultNetworkPolicy"] == {"ingress": "DenyAll", "egress": "AllowSameNamespace"}
    assert ns_props["labels"] == {"ai-platform/owner": "fleet"}  # not a team: no team label
    placement = props["propagationPolicy"]
    assert placement["type"] == "Placement"
    assert placement["placementProfile"]["defaultClusterResourcePlacement"]["policy"] == {
        "placementType": "PickFixed",
        "clusterNames": ["dev-weu1"],
    }
    assert not of_type(hub, STRATEGY)
    assert not of_type(hub, PROFILE)
    assert not of_type(hub, MESH)


def test_without_auto_upgrade_the_cluster_keeps_its_channel(hub: dict[str, Any]) -> None:
    (cluster,) = of_type(hub, CLUSTER)
    assert cluster["inputs"]["autoUpgradeProfile"]["upgradeChannel"] == "patch"


# --- fleet-managed team namespaces: the prod layout with a hub and managed namespaces on ----------------


@pytest.fixture(scope="module")
def fleet_teams(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Pulumi.prod.yaml (teams inference on weu1+neu1 with mTLS, research on weu1; model chat-70b of
    inference on weu1) with a hub fleet and managed namespaces: a quota default, research's own quota, and
    a namespace that is not a team."""
    stack_file = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    config = stack_file["config"]
    config["ai-platform:fleet"]["hub"] = True
    config["ai-platform:fleet"]["managedNamespaces"] = {
        "enabled": True,
        "defaults": {"cpuRequest": "64", "memoryRequest": "512Gi"},
        "namespaces": {
            "research": {"cpuRequest": "32", "memoryRequest": "128Gi", "memoryLimit": "256Gi"},
            "tools": {"cpuRequest": "2", "ingress": "DenyAll", "egress": "AllowSameNamespace"},
        },
    }
    path = tmp_path_factory.mktemp("fleet") / "Pulumi.fleetteams.yaml"
    path.write_text(yaml.safe_dump(stack_file, sort_keys=False))
    return run_plan("fleetteams", path).to_json()


def test_one_fleet_namespace_per_team_on_its_member_clusters(fleet_teams: dict[str, Any]) -> None:
    namespaces = by_name(fleet_teams, NAMESPACE)
    assert set(namespaces) == {"fleet-ns-inference", "fleet-ns-research", "fleet-ns-tools"}
    placement = {
        n: r["inputs"]["properties"]["propagationPolicy"]["placementProfile"]["defaultClusterResourcePlacement"][
            "policy"
        ]
        for n, r in namespaces.items()
    }
    assert placement["fleet-ns-inference"] == {"placementType": "PickFixed", "clusterNames": ["prod-weu1", "prod-neu1"]}
    assert placement["fleet-ns-research"] == {"placementType": "PickFixed", "clusterNames": ["prod-weu1"]}
    assert placement["fleet-ns-tools"]["clusterNames"] == ["prod-weu1", "prod-neu1"]  # not a team: every member
    members = {n: m["urn"] for n, m in by_name(fleet_teams, MEMBER).items()}
    research = namespaces["fleet-ns-research"]
    assert members["fleet-member-weu1"] in research["dependencies"]  # placed after its member joined
    assert members["fleet-member-neu1"] not in research["dependencies"]


def test_team_fleet_namespace_carries_quota_labels_and_a_neutral_network_policy(fleet_teams: dict[str, Any]) -> None:
    namespaces = by_name(fleet_teams, NAMESPACE)
    props = {n: r["inputs"]["properties"]["managedNamespaceProperties"] for n, r in namespaces.items()}
    inference, research, tools = props["fleet-ns-inference"], props["fleet-ns-research"], props["fleet-ns-tools"]
    assert inference["defaultResourceQuota"] == {"cpuRequest": "64", "memoryRequest": "512Gi"}  # defaults
    assert research["defaultResourceQuota"] == {"cpuRequest": "32", "memoryRequest": "128Gi", "memoryLimit": "256Gi"}
    assert inference["labels"] == {
        "ai-platform/team": "inference",
        "io.cilium/mtls-enabled": "true",  # teams.inference.mtls
        "ai-platform/owner": "fleet",
    }
    assert research["labels"] == {"ai-platform/team": "research", "ai-platform/owner": "fleet"}
    # Isolated teams: Fleet's default policy admits nothing, so the team's own NetworkPolicy decides.
    assert inference["defaultNetworkPolicy"] == {"ingress": "DenyAll", "egress": "AllowAll"}
    assert tools["defaultNetworkPolicy"] == {"ingress": "DenyAll", "egress": "AllowSameNamespace"}
    assert tools["labels"] == {"ai-platform/owner": "fleet"}


def test_member_clusters_get_no_namespace_object_for_fleet_teams(fleet_teams: dict[str, Any]) -> None:
    kube_namespaces = [r["name"] for r in fleet_teams["resources"] if r["type"] == "kubernetes:core/v1:Namespace"]
    assert not [n for n in kube_namespaces if "-dra-ns-" in n], kube_namespaces  # one owner: Fleet
    # Everything else of the team is still there, on each of its clusters.
    quotas = {r["name"] for r in fleet_teams["resources"] if r["type"] == "kubernetes:core/v1:ResourceQuota"}
    assert {
        "weu1-dra-inference-resourcequota-gpu-devices",
        "neu1-dra-inference-resourcequota-gpu-devices",
        "weu1-dra-research-resourcequota-gpu-devices",
    } <= quotas


def test_team_objects_wait_for_their_fleet_namespace(fleet_teams: dict[str, Any]) -> None:
    ns = {n.removeprefix("fleet-ns-"): r["urn"] for n, r in by_name(fleet_teams, NAMESPACE).items()}
    team_objects = [
        r
        for r in fleet_teams["resources"]
        if r["type"].startswith("kubernetes:")
        and "-dra-" in r["name"]
        and "namespace" in r["inputs"].get("metadata", {})
    ]
    assert {r["type"].rsplit(":", 1)[-1] for r in team_objects} == {
        "ResourceQuota",
        "ResourceClaimTemplate",
        "NetworkPolicy",
    }
    for r in team_objects:
        assert ns[r["inputs"]["metadata"]["namespace"]] in r["dependencies"], r["name"]


def test_model_servers_still_wait_for_their_namespace_owner(fleet_teams: dict[str, Any]) -> None:
    inference = by_name(fleet_teams, NAMESPACE)["fleet-ns-inference"]["urn"]
    model_objects = [r for r in fleet_teams["resources"] if r["name"].startswith("weu1-models-chat-70b-")]
    assert {r["type"].rsplit(":", 1)[-1] for r in model_objects} >= {"Deployment", "Service", "ResourceClaimTemplate"}
    for r in model_objects:
        assert inference in r["dependencies"], r["name"]


def test_charts_still_do_not_wait_for_gpu_pools_with_fleet_namespaces(fleet_teams: dict[str, Any]) -> None:
    resources = fleet_teams["resources"]
    waits = prerequisites(resources)
    types = {r["urn"]: r["type"] for r in resources}
    charts = [r for r in resources if r["type"] == "kubernetes:helm.sh/v3:Release"]
    assert charts
    for chart in charts:
        pools = [p for p in waits[chart["urn"]] if types[p] == "azure-native:containerservice:AgentPool"]
        assert not pools, chart["name"]


def test_fleet_team_objects_are_strictly_valid(fleet_teams: dict[str, Any]) -> None:
    objects = k8s_objects(fleet_teams)
    assert objects
    for obj in objects:
        validate_strict(obj, "1.34")


def test_fleet_namespaces_place_teams_on_member_clusters_only() -> None:
    values = prod_like()
    values["clusters"]["eus1"] = {"location": "eastus", "kubernetesVersion": "1.34", "features": {"fleet": False}}
    values["fleet"]["hub"] = True
    values["fleet"]["managedNamespaces"] = {"enabled": True, "defaults": {"cpuRequest": "4"}}
    values["teams"] = {
        "research": {},  # every DRA cluster: weu1, neu1 (members) and eus1 (not)
        "vision": {"clusters": ["eus1"]},  # on no member: its namespace stays the DRA component's
        "open": {"clusters": ["neu1"], "networkIsolation": False},
    }
    cfg = load_config(cli_map(values), SOURCE)
    assert cfg.fleet is not None
    plans = fleet_namespaces(cfg.fleet, cfg.teams, cfg.clusters)
    assert {n: (p.team, p.clusters) for n, p in plans.items()} == {
        "research": ("research", ("weu1", "neu1")),
        "open": ("open", ("neu1",)),
    }
    assert plans["research"].quota.cpu_request == "4"
    assert (plans["research"].ingress, plans["research"].egress) == ("DenyAll", "AllowAll")
    assert (plans["open"].ingress, plans["open"].egress) == ("AllowAll", "AllowAll")  # not isolated: stays open
    managed_off = cfg.fleet.managed_namespaces.model_copy(update={"enabled": False})
    assert (
        fleet_namespaces(cfg.fleet.model_copy(update={"managed_namespaces": managed_off}), cfg.teams, cfg.clusters)
        == {}
    )


# --- pure helpers ---------------------------------------------------------------------------------


def test_stage_plan_maps_groups_to_clusters() -> None:
    spec = FleetSpec.model_validate(
        {
            "members": {"a": {"group": "canary"}, "b": {"group": "rest"}, "c": {"group": "rest"}},
            "updateStrategy": {
                "stages": {
                    "canary": {"groups": ["canary"], "afterStageWaitInSeconds": 60},
                    "rest": {"groups": ["rest"]},
                }
            },
        }
    )
    assert [(s.name, s.clusters, s.after_stage_wait_in_seconds) for s in stage_plan(spec)] == [
        ("canary", ("a",), 60),
        ("rest", ("b", "c"), 0),
    ]
    assert stage_plan(None) == []


def test_cluster_upgrade_channel() -> None:
    cfg = load_config(cli_map(prod_like()), SOURCE)
    assert cfg.fleet is not None
    assert cluster_upgrade_channel(cfg.fleet, "weu1", cfg.clusters["weu1"]) == "none"
    assert cluster_upgrade_channel(None, "weu1", cfg.clusters["weu1"]) == "patch"
    no_auto = cfg.fleet.model_copy(update={"auto_upgrade": None})
    assert cluster_upgrade_channel(no_auto, "weu1", cfg.clusters["weu1"]) == "patch"


# --- configuration errors: each names its key -----------------------------------------------------


def prod_like() -> dict[str, Any]:
    """The prod fleet layout (environment dev: prod-only rules of other components stay out of the way)."""
    cluster = {"kubernetesVersion": "1.34"}
    return {
        "environment": "dev",
        "owner": "platform",
        "costCenter": "cc",
        "location": "westeurope",
        "clusters": {
            "weu1": {"location": "westeurope", **cluster},
            # Fleet members need VNets that do not overlap (stacks/config.py connected_vnet_issues).
            "neu1": {
                "location": "northeurope",
                "network": {"vnetCidr": "10.11.0.0/16", "nodeSubnetCidr": "10.11.0.0/20"},
                **cluster,
            },
        },
        "fleet": {
            "members": {"weu1": {"group": "canary"}, "neu1": {"group": "rest"}},
            "updateStrategy": {
                "stages": {
                    "canary": {"groups": ["canary"], "afterStageWaitInSeconds": 3600},
                    "rest": {"groups": ["rest"]},
                }
            },
            "autoUpgrade": {"channel": "Stable"},
        },
    }


def errors(changes: dict[str, Any]) -> list[str]:
    values = prod_like()
    for path, value in changes.items():
        values = changed(values, path, value)
    with pytest.raises(ConfigError) as caught:
        load_config(cli_map(values), SOURCE)
    return caught.value.lines


def test_prod_like_fleet_config_is_valid() -> None:
    cfg = load_config(cli_map(prod_like()), SOURCE)
    assert cfg.fleet is not None
    assert list(cfg.fleet.members) == ["weu1", "neu1"]


ERRORS = [
    pytest.param(
        {"fleet.members.neu1.group": "late"},
        "fleet.members.neu1.group",
        "no stage upgrades this group",
        id="member-group-in-no-stage",
    ),
    pytest.param(
        {"fleet.updateStrategy.stages.rest.groups": ["rest", "gpu"]},
        "fleet.updateStrategy.stages.rest.groups.1",
        "no member cluster is in this group",
        id="stage-group-without-members",
    ),
    pytest.param(
        {"fleet.updateStrategy.stages.rest.groups": ["rest", "canary"]},
        "fleet.updateStrategy.stages.rest.groups.1",
        "already upgraded in stage 'canary'",
        id="group-in-two-stages",
    ),
    pytest.param(
        {"fleet.updateStrategy.stages.rest.groups": ["rest", "rest"]},
        "fleet.updateStrategy.stages.rest.groups.1",
        "already upgraded in stage 'rest'",
        id="group-twice-in-one-stage",
    ),
    pytest.param(
        {"fleet.members.eus1": {"group": "rest"}},
        "fleet.members.eus1",
        "is not a cluster id of this stack",
        id="unknown-cluster",
    ),
    pytest.param(
        {"clusters.neu1.features": {"fleet": False}},
        "fleet.members.neu1",
        "features.fleet: false",
        id="member-with-fleet-feature-off",
    ),
    pytest.param(
        {"clusters.eus1": {"location": "eastus", "kubernetesVersion": "1.34"}},
        "clusters.eus1.features.fleet",
        "not in fleet.members",
        id="cluster-left-out-of-the-fleet",
    ),
    pytest.param(
        {"clusters.weu1.upgrade": {"channel": "stable"}},
        "clusters.weu1.upgrade.channel",
        "race the fleet's auto-upgrade",
        id="explicit-cluster-channel-with-fleet-auto-upgrade",
    ),
    pytest.param(
        {"fleet.autoUpgrade.channel": "TargetKubernetesVersion"},
        "fleet.autoUpgrade.channel",
        "2024-05-02-preview",
        id="target-version-channel-not-in-sdk-api",
    ),
    pytest.param(
        {"fleet.autoUpgrade.targetKubernetesVersion": "1.34"},
        "fleet.autoUpgrade.targetKubernetesVersion",
        "is not accepted",
        id="target-version",
    ),
    pytest.param(
        {"fleet.autoUpgrade.channel": "Patch"},
        "fleet.autoUpgrade.channel",
        "is not an allowed value",
        id="unknown-channel",
    ),
    pytest.param(
        {"fleet.updateStrategy.stages.rest.afterStageWaitInSeconds": -1},
        "fleet.updateStrategy.stages.rest.afterStageWaitInSeconds",
        ">= 0",
        id="negative-wait",
    ),
    pytest.param(
        {"fleet.updateStrategy.stages.rest.groups": []},
        "fleet.updateStrategy.stages.rest.groups",
        "at least 1",
        id="stage-without-groups",
    ),
    pytest.param(
        {"fleet.members.neu1.group": "Rest_Group"}, "fleet.members.neu1.group", "wrong format", id="group-name-format"
    ),
    pytest.param(
        {"fleet.existingFleetId": "/subscriptions/1/resourceGroups/rg/providers/Microsoft.Foo/x/y"},
        "fleet.existingFleetId",
        "is not a fleet resource id",
        id="bad-fleet-id",
    ),
    pytest.param(
        {"fleet.existingFleetId": SHARED_FLEET, "fleet.hub": True},
        "fleet.hub",
        "property of the shared fleet",
        id="hub-on-shared-fleet",
    ),
    pytest.param(
        {"fleet.existingFleetId": SHARED_FLEET, "fleet.updateStrategy": ...},
        "fleet.autoUpgrade",
        "every member of the shared fleet",
        id="shared-fleet-auto-upgrade-without-strategy",
    ),
    pytest.param(
        {"fleet.managedNamespaces": {"enabled": True}},
        "fleet.managedNamespaces.enabled",
        "needs a fleet with a hub cluster",
        id="managed-namespaces-without-hub",
    ),
    pytest.param(
        {"fleet.managedNamespaces": {"enabled": True, "namespaces": {"r": {"memoryLimit": "32GB"}}}, "fleet.hub": True},
        "fleet.managedNamespaces.namespaces.r.memoryLimit",
        "wrong format",
        id="memory-quantity",
    ),
    pytest.param(
        {
            "fleet.managedNamespaces": {"enabled": True, "namespaces": {"research": {"ingress": "AllowAll"}}},
            "fleet.hub": True,
            "teams": {"research": {}},
        },
        "fleet.managedNamespaces.namespaces.research.ingress",
        "second network policy source",
        id="network-rule-on-a-team-namespace",
    ),
    pytest.param(
        {
            "fleet.managedNamespaces": {"enabled": True, "namespaces": {"research": {"cpuRequest": "4"}}},
            "fleet.hub": True,
            "clusters.eus1": {"location": "eastus", "kubernetesVersion": "1.34", "features": {"fleet": False}},
            "teams": {"research": {"clusters": ["eus1"]}},
        },
        "fleet.managedNamespaces.namespaces.research",
        "names team 'research', which is on no fleet member cluster",
        id="listed-namespace-of-a-team-outside-the-fleet",
    ),
    pytest.param(
        {"fleet.managedNamespaces": {"enabled": True, "namespaces": {"gpu-monitoring": {}}}, "fleet.hub": True},
        "fleet.managedNamespaces.namespaces.gpu-monitoring",
        "two owners",
        id="platform-namespace",
    ),
    pytest.param(
        {"fleet.managedNamespaces": {"enabled": True, "namespaces": {"kube-flannel": {}}}, "fleet.hub": True},
        "fleet.managedNamespaces.namespaces.kube-flannel",
        "two owners",
        id="kube-namespace",
    ),
    pytest.param(
        {"fleet.mesh": {"weu1": "/subscriptions/1/whatever"}},
        "fleet.mesh.weu1",
        "not an Application Network member id",
        id="bad-mesh-id",
    ),
    pytest.param({"fleet.mesh": {"eus1": APPLINK}}, "fleet.mesh.eus1", "not a fleet member", id="mesh-for-non-member"),
    pytest.param({"fleet.members": {}}, "fleet.members", "at least 1", id="no-members"),
    pytest.param({"fleet.strategy": {}}, "fleet.strategy", "unknown key", id="unknown-key"),
]


@pytest.mark.parametrize(("changes", "key", "phrase"), ERRORS)
def test_fleet_config_error_names_the_key(changes: dict[str, Any], key: str, phrase: str) -> None:
    lines = errors(changes)
    matching = [line for line in lines if f"ai-platform:{key}:" in line]
    assert matching, lines
    assert any(phrase in line for line in matching), matching
    assert all(line.startswith(f"{SOURCE}: ") for line in lines)


def test_explicit_none_channel_on_a_member_is_accepted() -> None:
    values = prod_like()
    values["clusters"]["weu1"]["upgrade"] = {"channel": "none", "nodeOsChannel": "SecurityPatch"}
    cfg = load_config(cli_map(values), SOURCE)
    assert cfg.clusters["weu1"].upgrade.node_os_channel == "SecurityPatch"


def test_config_error_registers_nothing(tmp_path: Path) -> None:
    values = prod_like()
    values["fleet"]["members"]["neu1"]["group"] = "late"
    with pytest.raises(ConfigError):
        plan_for(tmp_path, "bad", values)
