"""Which property changes a resource cannot take in place: the one replace-trigger table, each entry with its source.

Two kinds of entry, because Azure and the provider disagree about some properties:

- ``replace``: the provider (or the plan's own ``replaceOnChanges`` option) turns a change into a replacement;
  Pulumi creates the new resource and deletes the old one (the other way round with ``deleteBeforeReplace``).
- ``refuse``: the provider sends an in-place update that Azure (or the Kubernetes API server) rejects, so
  ``pulumi up`` fails on that resource. The blueprint's answer is a new resource (a blue-green slot), never an
  edit.

Paths are the plan's camelCase input paths: ``a.b`` nests, ``a[*].b`` is every element of a list, and a path
matches the property itself and everything under it (``networkProfile`` matches ``networkProfile.podCidr``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

AGENT_POOL = "azure-native:containerservice:AgentPool"
MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"

_AZURE_NATIVE_FORCE_NEW = (
    "pulumi/pulumi-azure-native provider/pkg/gen/replacement.go forceNewMap "
    "(commit f8d3054ad7a51690d78c6418a507ecd0a97bf847)"
)
_AGENT_POOL_REPLACE_PR = "pulumi/pulumi-azure-native#3655 (AgentPool vmSize and gpuInstanceProfile replace)"
_AKS_NODE_POOL_LIMITS = (
    "learn.microsoft.com/azure/aks/manage-node-pools#limitations (\"You can't change the VM size of a node pool "
    'after you create it"); node-level properties AKS can only change by cycling the pool are listed at '
    "pulumi.com/registry/packages/azure/api-docs/containerservice/kubernetesclusternodepool (temporaryNameForRotation)"
)
_AKS_MIG = 'learn.microsoft.com/azure/aks/gpu-multi-instance ("You can\'t change the applied GPU instance profile")'
_ARM_PATH = (
    "learn.microsoft.com/rest/api/aks/agentpools/createorupdate: subscriptionId, resourceGroupName, resourceName "
    "and agentPoolName are URI path parameters, so a changed value addresses another resource"
)
_ARM_LOCATION = (
    "ARM common types TrackedResource.location has x-ms-mutability [read, create]; azure-native forces a "
    "replacement for create-only properties (replacement.go: 'covered by x-ms-mutability')"
)
_K8S_FORCE_NEW = (
    "pulumi/pulumi-kubernetes provider/pkg/provider/diff.go forceNew (commit cafe8c4ac4de156415093291bffc63b6e1c97d1e)"
)


@dataclass(frozen=True)
class Trigger:
    type: str
    """Resource type token, or ``azure-native:*`` / ``kubernetes:*`` for every type of that provider."""
    path: str
    action: str
    """``replace`` (the provider replaces) or ``refuse`` (Azure/Kubernetes rejects the in-place update)."""
    why: str
    source: str

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "path": self.path, "action": self.action, "why": self.why, "source": self.source}


def _pool(path: str, why: str, action: str = "refuse", source: str = _AKS_NODE_POOL_LIMITS) -> Trigger:
    return Trigger(AGENT_POOL, path, action, why, source)


TRIGGERS: tuple[Trigger, ...] = (
    # --- AgentPool: what the provider replaces, then what AKS cannot change in place -------------------------
    _pool(
        "vmSize",
        "a node pool's VM size is fixed at creation",
        "replace",
        f"{_AZURE_NATIVE_FORCE_NEW}; {_AGENT_POOL_REPLACE_PR}",
    ),
    _pool(
        "gpuInstanceProfile",
        "a pool's MIG profile is fixed at creation",
        "replace",
        f"{_AZURE_NATIVE_FORCE_NEW}; {_AKS_MIG}",
    ),
    _pool("agentPoolName", "the pool name is part of its ARM id", "replace", _ARM_PATH),
    _pool("resourceName", "the cluster name is part of the pool's ARM id", "replace", _ARM_PATH),
    _pool("resourceGroupName", "the resource group is part of the pool's ARM id", "replace", _ARM_PATH),
    _pool("availabilityZones", "a pool's zones are fixed at creation"),
    _pool("osDiskSizeGB", "a pool's OS disk size is fixed at creation"),
    _pool("osDiskType", "a pool's OS disk type is fixed at creation"),
    _pool("maxPods", "a pool's max pods per node is fixed at creation"),
    _pool("vnetSubnetID", "a pool's node subnet is fixed at creation"),
    _pool("podSubnetID", "a pool's pod subnet is fixed at creation"),
    _pool("enableNodePublicIP", "node public IPs are fixed at creation"),
    _pool("enableEncryptionAtHost", "host encryption is fixed at creation"),
    _pool("enableFIPS", "FIPS images are fixed at creation"),
    _pool("enableUltraSSD", "Ultra SSD support is fixed at creation"),
    _pool("kubeletDiskType", "the kubelet disk type is fixed at creation"),
    _pool("kubeletConfig", "kubelet configuration is applied only when nodes are created"),
    _pool("linuxOSConfig", "Linux OS configuration is applied only when nodes are created"),
    _pool("creationData", "the snapshot a pool is created from is read only at creation"),
    _pool(
        "scaleSetPriority",
        "Spot or Regular is fixed at creation",
        source="github.com/gkaleta/AKS-Spot-Instances README "
        "(spot pools cannot change ScaleSetPriority after creation)",
    ),
    # --- ManagedCluster -----------------------------------------------------------------------------------
    Trigger(
        MANAGED_CLUSTER,
        "networkProfile",
        "replace",
        "the provider replaces the cluster on any networkProfile change "
        "(plugin, mode, dataplane, podCidr, serviceCidr, dnsServiceIP, ACNS)",
        _AZURE_NATIVE_FORCE_NEW,
    ),
    Trigger(
        MANAGED_CLUSTER,
        "dnsPrefix",
        "replace",
        "the API server's DNS prefix is fixed at creation",
        _AZURE_NATIVE_FORCE_NEW,
    ),
    Trigger(
        MANAGED_CLUSTER,
        "fqdnSubdomain",
        "replace",
        "the private FQDN subdomain is fixed at creation",
        _AZURE_NATIVE_FORCE_NEW,
    ),
    Trigger(
        MANAGED_CLUSTER,
        "nodeResourceGroup",
        "replace",
        "the node resource group is fixed at creation",
        _AZURE_NATIVE_FORCE_NEW,
    ),
    Trigger(
        MANAGED_CLUSTER,
        "linuxProfile",
        "replace",
        "the Linux admin profile is fixed at creation",
        _AZURE_NATIVE_FORCE_NEW,
    ),
    Trigger(
        MANAGED_CLUSTER,
        "windowsProfile",
        "replace",
        "the Windows profile is fixed at creation",
        _AZURE_NATIVE_FORCE_NEW,
    ),
    Trigger(
        MANAGED_CLUSTER,
        "diskEncryptionSetID",
        "replace",
        "the disk encryption set is fixed at creation",
        _AZURE_NATIVE_FORCE_NEW,
    ),
    Trigger(MANAGED_CLUSTER, "location", "replace", "a cluster cannot move region", _AZURE_NATIVE_FORCE_NEW),
    Trigger(MANAGED_CLUSTER, "resourceName", "replace", "the cluster name is part of its ARM id", _ARM_PATH),
    Trigger(
        MANAGED_CLUSTER,
        "agentPoolProfiles[*].vmSize",
        "refuse",
        "the inline system pool's VM size is fixed at creation "
        "(AKS needs a new system pool; the provider does not replace it, pulumi-azure-native#2774)",
        _AKS_NODE_POOL_LIMITS,
    ),
    Trigger(
        MANAGED_CLUSTER,
        "agentPoolProfiles[*].availabilityZones",
        "refuse",
        "the inline system pool's zones are fixed at creation",
        _AKS_NODE_POOL_LIMITS,
    ),
    Trigger(
        MANAGED_CLUSTER,
        "agentPoolProfiles[*].osDiskType",
        "refuse",
        "the inline system pool's OS disk type is fixed at creation",
        _AKS_NODE_POOL_LIMITS,
    ),
    Trigger(
        MANAGED_CLUSTER,
        "agentPoolProfiles[*].osDiskSizeGB",
        "refuse",
        "the inline system pool's OS disk size is fixed at creation",
        _AKS_NODE_POOL_LIMITS,
    ),
    Trigger(
        MANAGED_CLUSTER,
        "agentPoolProfiles[*].maxPods",
        "refuse",
        "the inline system pool's max pods is fixed at creation",
        _AKS_NODE_POOL_LIMITS,
    ),
    Trigger(
        MANAGED_CLUSTER,
        "agentPoolProfiles[*].vnetSubnetID",
        "refuse",
        "the inline system pool's subnet is fixed at creation",
        _AKS_NODE_POOL_LIMITS,
    ),
    # --- Other Azure resources the blueprint registers -----------------------------------------------------
    Trigger(
        "azure-native:authorization:RoleAssignment",
        "principalId",
        "replace",
        "a role assignment's principal is fixed (pulumi-azure-native#771)",
        _AZURE_NATIVE_FORCE_NEW,
    ),
    Trigger(
        "azure-native:authorization:RoleAssignment",
        "scope",
        "replace",
        "a role assignment's scope is fixed",
        _AZURE_NATIVE_FORCE_NEW,
    ),
    Trigger(
        "azure-native:resources:ResourceGroup",
        "location",
        "replace",
        "a resource group cannot move region",
        _AZURE_NATIVE_FORCE_NEW,
    ),
    Trigger(
        "azure-native:resources:ResourceGroup",
        "resourceGroupName",
        "replace",
        "the name is the resource group's ARM id",
        _ARM_PATH,
    ),
    Trigger(
        "azure-native:network:VirtualNetwork",
        "location",
        "replace",
        "a virtual network cannot move region",
        _AZURE_NATIVE_FORCE_NEW,
    ),
    Trigger("azure-native:*", "location", "replace", "a resource's region is fixed at creation", _ARM_LOCATION),
    Trigger("azure-native:*", "resourceGroupName", "replace", "the resource group is part of every ARM id", _ARM_PATH),
    # --- Kubernetes: what pulumi-kubernetes replaces --------------------------------------------------------
    Trigger("kubernetes:*", "metadata.name", "replace", "an object's name is its identity", _K8S_FORCE_NEW),
    Trigger("kubernetes:*", "metadata.namespace", "replace", "an object's namespace is its identity", _K8S_FORCE_NEW),
    Trigger(
        "kubernetes:apps/v1:Deployment",
        "spec.selector",
        "replace",
        "a Deployment's selector is immutable",
        _K8S_FORCE_NEW,
    ),
    Trigger(
        "kubernetes:apps/v1:DaemonSet",
        "spec.selector",
        "replace",
        "a DaemonSet's selector is immutable",
        _K8S_FORCE_NEW,
    ),
    Trigger(
        "kubernetes:apps/v1:StatefulSet",
        "spec.selector",
        "replace",
        "a StatefulSet's selector is immutable",
        _K8S_FORCE_NEW,
    ),
    Trigger(
        "kubernetes:apps/v1:StatefulSet",
        "spec.volumeClaimTemplates",
        "replace",
        "a StatefulSet's volume claim templates are immutable",
        _K8S_FORCE_NEW,
    ),
    Trigger(
        "kubernetes:apps/v1:StatefulSet",
        "spec.serviceName",
        "replace",
        "a StatefulSet's service name is immutable",
        _K8S_FORCE_NEW,
    ),
    Trigger(
        "kubernetes:core/v1:Service", "spec.clusterIP", "replace", "a Service's cluster IP is immutable", _K8S_FORCE_NEW
    ),
    Trigger("kubernetes:core/v1:Secret", "type", "replace", "a Secret's type is immutable", _K8S_FORCE_NEW),
    Trigger(
        "kubernetes:core/v1:ResourceQuota",
        "spec.scopes",
        "replace",
        "a ResourceQuota's scopes are immutable",
        _K8S_FORCE_NEW,
    ),
    Trigger(
        "kubernetes:core/v1:PersistentVolumeClaim",
        "spec.accessModes",
        "replace",
        "a claim's access modes are immutable",
        _K8S_FORCE_NEW,
    ),
    Trigger(
        "kubernetes:core/v1:PersistentVolumeClaim",
        "spec.storageClassName",
        "replace",
        "a claim's storage class is immutable",
        _K8S_FORCE_NEW,
    ),
    Trigger(
        "kubernetes:resource.k8s.io/v1:ResourceClaimTemplate",
        "spec",
        "refuse",
        "a ResourceClaimTemplate's spec is immutable "
        "(the blueprint sets replaceOnChanges on it; without that option the API server refuses the update)",
        "kubernetes.io/docs/concepts/scheduling-eviction/dynamic-resource-allocation "
        "(ResourceClaimTemplate spec is immutable); components/dra/component.py",
    ),
)


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(pattern).replace(r"\[\*\]", r"\[\d+\]") + r"(?:$|[.\[])")


def _matches(pattern: str, path: str) -> bool:
    """``pattern`` covers ``path`` itself or an ancestor of it (``a[*].b`` matches ``a[3].b.c``)."""
    return _compiled(pattern).match(path) is not None


def _applies(trigger: Trigger, resource_type: str) -> bool:
    if trigger.type.endswith(":*"):
        return resource_type.startswith(trigger.type[:-1])
    return trigger.type == resource_type


def triggers_for(resource_type: str, path: str) -> list[Trigger]:
    """Every table entry that covers a change of ``path`` on a resource of ``resource_type``."""
    return [t for t in TRIGGERS if _applies(t, resource_type) and _matches(t.path, path)]


def option_trigger(path: str, replace_on_changes: list[str]) -> Trigger | None:
    """The resource's own ``replaceOnChanges`` option (the plan records it): ``*`` means every property."""
    for pattern in replace_on_changes:
        if pattern == "*" or _matches(pattern, path):
            return Trigger(
                "(this resource)",
                pattern,
                "replace",
                f"replaceOnChanges: [{pattern}]",
                "the plan's replaceOnChanges option",
            )
    return None


def covered(patterns: list[str], path: str) -> bool:
    """``path`` is under one of ``patterns`` (an ``ignoreChanges`` list: ``agentPoolProfiles[*].count``)."""
    return any(_matches(p, path) for p in patterns)
