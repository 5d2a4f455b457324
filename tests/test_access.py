"""API access on the first `pulumi up`: the deployer's cluster-admin grant, the RBAC propagation wait, and the
configuration that would leave nobody able to reach the Kubernetes API."""

from __future__ import annotations

import base64
import subprocess
import sys
from typing import Any

import grpc
import pulumi
import pytest
import yaml
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import proto, rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.proto import provider_pb2_grpc
from pulumi.runtime.sync_await import _sync_await

from components import access
from components.access import RbacPropagationWaitProvider
from components.cluster import AksCluster, ClusterArgs, ClusterSpec
from stacks.plan import ROOT, _RecordingMonitor, plain
from tests.conftest import SHIPPED_STACKS
from tests.helpers import changed, config_errors, load
from tests.test_config import base

CLUSTER = "azure-native:containerservice:ManagedCluster"
ROLE = "azure-native:authorization:RoleAssignment"
WAIT = "pulumi-python:dynamic:RbacPropagationWait"
PROVIDER = "pulumi:providers:kubernetes"
CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
OPERATORS = "0d3c1f8e-2b9a-4c1e-9f3a-5e7d2c4b6a81"


def of_type(resources: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["type"] == type_]


# --- the shipped stacks (plan documents) ---------------------------------------------------------------------


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_deployer_is_cluster_admin_on_every_cluster(stack: str, plan_documents: dict[str, Any]) -> None:
    resources = plan_documents[stack]["resources"]
    for cluster in of_type(resources, CLUSTER):
        key = cluster["name"].removesuffix("-aks")
        (grant,) = [r for r in of_type(resources, ROLE) if r["name"] == f"{key}-deployer-cluster-admin"]
        assert grant["inputs"]["roleDefinitionId"].endswith(
            f"/providers/Microsoft.Authorization/roleDefinitions/{CLUSTER_ADMIN}"
        )
        # Scope is the cluster's id (unknown in a preview of a create): the grant waits for that cluster.
        assert cluster["urn"] in grant["dependencies"]
        assert grant["inputs"]["principalType"] == "User"  # kubelogin azurecli: a person runs `pulumi up`


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_kubernetes_provider_waits_for_the_grant_and_rbac_propagation(
    stack: str, plan_documents: dict[str, Any]
) -> None:
    resources = plan_documents[stack]["resources"]
    for provider in of_type(resources, PROVIDER):
        key = provider["name"].removesuffix("-k8s")
        (grant,) = [r for r in of_type(resources, ROLE) if r["name"] == f"{key}-deployer-cluster-admin"]
        (wait,) = [r for r in of_type(resources, WAIT) if r["name"] == f"{key}-rbac-propagation"]
        assert grant["urn"] in wait["dependencies"]
        assert wait["inputs"]["delaySeconds"] == 300  # AKS: "up to five minutes to propagate"
        assert {grant["urn"], wait["urn"]} <= set(provider["dependencies"])


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_no_kubernetes_object_is_created_before_api_access(stack: str, plans: dict[str, Any]) -> None:
    findings = [f.name for f in plans[stack].rehearse().findings if f.kind == "beforeApiAccess"]
    assert findings == []


# --- configuration -------------------------------------------------------------------------------------------


def test_turning_the_deployer_grant_off_without_admin_groups_is_an_error() -> None:
    values = changed(base(), "clusters.weu1.security.grantDeployerClusterAdmin", False)
    assert config_errors(values) == [
        "Pulumi.test.yaml: ai-platform:clusters.weu1.security.grantDeployerClusterAdmin: leaves nobody able to "
        "reach the Kubernetes API (local accounts are off and Azure RBAC is on, so Owner/Contributor have no "
        "Kubernetes rights) and adminGroupObjectIds is empty (got false; allowed: true, or false with "
        "adminGroupObjectIds listing a group the deployer is a member of). Fix: remove grantDeployerClusterAdmin "
        "(default true), or list your operators' Entra group ids in security.adminGroupObjectIds"
    ]


def test_admin_groups_alone_are_enough() -> None:
    values = changed(
        base(), "clusters.weu1.security", {"grantDeployerClusterAdmin": False, "adminGroupObjectIds": [OPERATORS]}
    )
    security = load(values).clusters["weu1"].security
    assert security.grant_deployer_cluster_admin is False
    assert [str(g) for g in security.admin_group_object_ids] == [OPERATORS]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("rbacPropagationSeconds", 30, "allowed: >= 60"),
        ("rbacPropagationSeconds", 3600, "allowed: <= 1800"),
        ("deployerPrincipalType", "Group", "allowed: 'User' or 'ServicePrincipal'"),
    ],
)
def test_deployer_settings_are_bounded(key: str, value: Any, expected: str) -> None:
    (line,) = config_errors(changed(base(), f"clusters.weu1.security.{key}", value))
    assert line.startswith(f"Pulumi.test.yaml: ai-platform:clusters.weu1.security.{key}: ")
    assert expected in line


# --- the component with known ids (a mocked `pulumi up`, not a preview) --------------------------------------

CLUSTER_ID = "/subscriptions/s-1/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks"
DEPLOYER = "7f1c2a9e-4b3d-4e8f-a1c6-2d9b8e7f6a51"


class _UpMocks(pulumi_mocks.Mocks):
    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == CLUSTER:
            # Outside a preview the SDK fills missing outputs from the inputs; this one changes shape (a list of
            # identity ids in, a map of identities out).
            return CLUSTER_ID, {**outputs, "name": "aks", "identity": {"type": "UserAssigned"}}
        return f"{args.name}-id", outputs

    def call(self, args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        if args.token == "azure-native:authorization:getClientConfig":
            return {"clientId": "c", "objectId": DEPLOYER, "subscriptionId": "s-1", "tenantId": "t"}
        kubeconfig = {"apiVersion": "v1", "users": [{"name": "u", "user": {"exec": {"command": "kubelogin"}}}]}
        encoded = base64.b64encode(yaml.safe_dump(kubeconfig).encode()).decode()
        return {"kubeconfigs": [{"name": "clusterUser", "value": encoded}]}


def build_cluster(security: dict[str, Any], kubelogin: str = "azurecli") -> list[dict[str, Any]]:
    """Register one AksCluster as `pulumi up` would (ids known) and return what was registered."""
    spec = ClusterSpec.model_validate({"location": "westeurope", "kubernetesVersion": "1.34", "security": security})
    monitor = _RecordingMonitor(_UpMocks())
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(monitor.mocks, project="ai-platform", stack="test", preview=False, monitor=monitor)

    def program() -> None:
        AksCluster("c1", ClusterArgs("c1", "dev", spec, {}, "patch", kubelogin=kubelogin))  # type: ignore[arg-type]

    _sync_await(pulumi.runtime.stack.run_pulumi_func(program))
    return [r.to_json() for r in monitor.registrations]


def test_the_grant_is_on_the_cluster_for_the_identity_running_pulumi_up() -> None:
    resources = build_cluster({}, kubelogin="workloadidentity")
    (grant,) = of_type(resources, ROLE)[1:]  # [0] is the subnet role of the cluster identity
    assert grant["name"] == "c1-deployer-cluster-admin"
    assert grant["inputs"]["scope"] == CLUSTER_ID
    assert grant["inputs"]["principalId"] == DEPLOYER
    assert grant["inputs"]["principalType"] == "ServicePrincipal"  # CI's workload identity is a service principal
    assert grant["inputs"]["roleDefinitionId"] == (
        f"/subscriptions/s-1/providers/Microsoft.Authorization/roleDefinitions/{CLUSTER_ADMIN}"
    )
    (wait,) = of_type(resources, WAIT)
    assert wait["inputs"]["grants"] == ["c1-deployer-cluster-admin-id"]
    assert wait["inputs"]["__provider"] == "[secret]"


def test_principal_type_and_delay_from_config() -> None:
    resources = build_cluster({"deployerPrincipalType": "ServicePrincipal", "rbacPropagationSeconds": 600})
    (grant,) = [r for r in of_type(resources, ROLE) if r["name"] == "c1-deployer-cluster-admin"]
    assert grant["inputs"]["principalType"] == "ServicePrincipal"
    (wait,) = of_type(resources, WAIT)
    assert wait["inputs"]["delaySeconds"] == 600


def test_with_admin_groups_only_the_provider_waits_for_the_group_grant_and_no_deployer_grant() -> None:
    resources = build_cluster({"grantDeployerClusterAdmin": False, "adminGroupObjectIds": [OPERATORS]})
    names = {r["name"] for r in of_type(resources, ROLE)}
    assert names == {"c1-subnet-network-contributor", f"c1-admins-{OPERATORS[:8]}"}
    assert of_type(resources, WAIT) == []
    (cluster,) = of_type(resources, CLUSTER)
    assert cluster["inputs"]["aadProfile"]["adminGroupObjectIDs"] == [OPERATORS]
    (provider,) = of_type(resources, PROVIDER)
    group_grant = next(r for r in of_type(resources, ROLE) if r["name"].startswith("c1-admins-"))
    assert group_grant["urn"] in provider["dependencies"]


# --- the wait itself -----------------------------------------------------------------------------------------


def test_the_wait_sleeps_on_create_and_when_the_grants_change(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(access.time, "sleep", slept.append)
    provider = RbacPropagationWaitProvider()
    props = {"grants": ["ra-1"], "delaySeconds": 300}
    created = provider.create(props)
    assert slept == [300]
    assert created.outs == props
    assert provider.diff(created.id, props, dict(props)).changes is False
    assert provider.diff(created.id, props, {**props, "grants": ["ra-2"]}).changes is True
    provider.update(created.id, props, {**props, "delaySeconds": 120})
    assert slept == [300]  # a new delay alone grants nothing new: no wait
    provider.update(created.id, props, {"grants": ["ra-2"], "delaySeconds": 120})
    assert slept == [300, 120]


def test_the_wait_runs_in_pulumis_dynamic_provider_process_from_the_project_directory() -> None:
    # What `pulumi up` starts for a Python dynamic resource: `python -m pulumi.dynamic` in the project directory
    # (sdk/python/dist/pulumi-resource-pulumi-python). The provider is serialized by reference to
    # components.access, so this proves it loads and answers there.
    server = subprocess.Popen(
        [sys.executable, "-m", "pulumi.dynamic"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            props = {
                "__provider": serialize_provider(RbacPropagationWaitProvider()),
                "grants": ["ra-1"],
                "delaySeconds": 0,
            }
            wire = _sync_await(rpc.serialize_properties(props, {}))
            urn = "urn:pulumi:test::ai-platform::pulumi-python:dynamic:RbacPropagationWait::c1-rbac-propagation"
            created = stub.Create(proto.CreateRequest(urn=urn, properties=wire), timeout=30)
            assert created.id
            outs = plain(rpc.deserialize_properties(created.properties))
            assert outs["grants"] == ["ra-1"]
            assert outs["delaySeconds"] == 0
            same = stub.Diff(proto.DiffRequest(id=created.id, urn=urn, olds=created.properties, news=wire), timeout=30)
            assert same.changes == proto.DiffResponse.DIFF_NONE
            moved = _sync_await(rpc.serialize_properties({**props, "grants": ["ra-2"]}, {}))
            diff = stub.Diff(proto.DiffRequest(id=created.id, urn=urn, olds=created.properties, news=moved), timeout=30)
            assert diff.changes == proto.DiffResponse.DIFF_SOME
            assert list(diff.replaces) == []
    finally:
        server.kill()
        server.wait()
