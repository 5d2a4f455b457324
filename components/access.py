"""Access to a cluster's Kubernetes API on the first `pulumi up`: the deployer's grant and the propagation wait.

Clusters run with ``disableLocalAccounts`` and Azure RBAC for Kubernetes authorization, so subscription
Owner/Contributor carry no Kubernetes data actions: without a grant, the Kubernetes provider's discovery and
every in-cluster object fail with Forbidden. This module builds, per cluster:

- an "Azure Kubernetes Service RBAC Cluster Admin" role assignment on the cluster for the identity running
  ``pulumi up`` (the object id from ``authorization.get_client_config``), and
- an :class:`RbacPropagationWait` after it. Azure documents that "new role assignments can take up to five
  minutes to propagate and be updated by the authorization server"
  (https://learn.microsoft.com/azure/aks/manage-azure-rbac, "Before you begin"): the ARM write returns long
  before the AKS authorizer honours it. The wait is a Pulumi dynamic resource that sleeps
  ``security.rbacPropagationSeconds`` when it is created and again whenever the grants it follows change
  (a new deployer, a replaced cluster); other updates and deletes return at once.

The cluster's Kubernetes provider lists both in ``depends_on``, so every Kubernetes object waits for them.
The grant follows whoever runs ``pulumi up``: a new ``principalId`` replaces the assignment (azure-native forces
a replacement, pulumi/pulumi-azure-native#771 fixed by #1010), which changes the wait's ``grants`` and so waits
again.
Members of ``aadProfile.adminGroupObjectIDs`` are bound to cluster-admin by AKS when the cluster is created
and need no wait.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any, Literal

import pulumi
import pulumi.dynamic

from components._common import role_assignment

CLUSTER_ADMIN_ROLE = "Azure Kubernetes Service RBAC Cluster Admin"

RBAC_PROPAGATION_SECONDS = 300
"""Default wait: the documented "up to five minutes" (learn.microsoft.com/azure/aks/manage-azure-rbac)."""
RBAC_PROPAGATION_MIN_SECONDS = 60
RBAC_PROPAGATION_MAX_SECONDS = 1800
"""Upper bound: Azure Resource Manager's caches can take "up to 30 minutes" to reflect a role assignment
(Microsoft's answer at learn.microsoft.com/en-us/answers/questions/524792, quoting the Azure RBAC
troubleshooting guide); waiting longer than that does not help."""

PrincipalType = Literal["User", "ServicePrincipal"]

PRINCIPAL_TYPE_BY_LOGIN: dict[str, PrincipalType] = {
    "azurecli": "User",
    "devicecode": "User",
    "azd": "User",
    "workloadidentity": "ServicePrincipal",
    "spn": "ServicePrincipal",
    "msi": "ServicePrincipal",
}
"""The deployer's principal type when ``security.deployerPrincipalType`` is unset, from the kubelogin mode
(the provider logs in as the same identity that runs ``pulumi up``). It must be right: the SDK sends
``principalType: User`` when none is given (pulumi_azure_native/authorization/role_assignment.py), and Azure
refuses a type that does not match the principal (UnmatchedPrincipalType)."""


class RbacPropagationWaitProvider(pulumi.dynamic.ResourceProvider):
    """Sleeps ``delaySeconds`` on create, and on update when ``grants`` changed.

    Runs in the dynamic-provider process that Pulumi starts from the project directory
    (``python -m pulumi.dynamic`` with the stack's virtualenv); the provider is serialized by reference to
    this module, so editing the module does not show up as a change of the resource.
    """

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        time.sleep(int(props["delaySeconds"]))
        return pulumi.dynamic.CreateResult(id_=str(uuid.uuid4()), outs=_outs(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        changed = [k for k in ("grants", "delaySeconds") if olds.get(k) != news.get(k)]
        return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        if olds.get("grants") != news.get("grants"):
            time.sleep(int(news["delaySeconds"]))
        return pulumi.dynamic.UpdateResult(outs=_outs(news))


def _outs(props: dict[str, Any]) -> dict[str, Any]:
    return {"grants": list(props.get("grants") or []), "delaySeconds": int(props["delaySeconds"])}


class RbacPropagationWait(pulumi.dynamic.Resource, name="RbacPropagationWait"):
    """Type ``pulumi-python:dynamic:RbacPropagationWait``: done once Azure RBAC has had time to apply ``grants``."""

    def __init__(
        self,
        name: str,
        grants: Sequence[pulumi.Input[str]],
        delay_seconds: int,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            RbacPropagationWaitProvider(),
            name,
            {"grants": list(grants), "delaySeconds": delay_seconds},
            opts,
        )


def deployer_cluster_admin(
    name: str,
    *,
    cluster_id: pulumi.Input[str],
    principal_id: pulumi.Input[str],
    principal_type: PrincipalType,
    subscription_id: pulumi.Input[str],
    delay_seconds: int,
    parent: pulumi.Resource,
) -> list[pulumi.Resource]:
    """The deployer's cluster-admin grant on ``cluster_id`` and the wait after it (both for ``depends_on``)."""
    grant = role_assignment(
        f"{name}-deployer-cluster-admin",
        scope=cluster_id,
        role=CLUSTER_ADMIN_ROLE,
        principal_id=principal_id,
        principal_type=principal_type,
        subscription_id=subscription_id,
        parent=parent,
    )
    wait = RbacPropagationWait(
        f"{name}-rbac-propagation",
        grants=[grant.id],
        delay_seconds=delay_seconds,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[grant]),
    )
    return [grant, wait]
