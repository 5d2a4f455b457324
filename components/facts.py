"""Facts that components, the composition and the policy pack share: labels, taints, namespaces, role ids.

One small module with no behaviour, imported by every layer that needs one of these names (components,
``stacks/``, ``policies/``), so that no component reaches into another for a constant. A value changes here or
nowhere: the node labels, for example, are written by the GPU pools, selected by the DRA driver and the model
servers, and checked by the policy pack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LABEL_PREFIX = "ai-platform"
"""Prefix of the Kubernetes labels and taints this blueprint owns (``ai-platform/<key>``)."""

# Node labels of GPU pools (written by components/gpu_pools.py, selected by DRA, serving and observability).
LABEL_GROUP = f"{LABEL_PREFIX}/gpu-pool"
LABEL_COLOUR = f"{LABEL_PREFIX}/color"
LABEL_ROLE = f"{LABEL_PREFIX}/slot-role"
LABEL_VENDOR = f"{LABEL_PREFIX}/gpu-vendor"
LABEL_ALLOCATION = f"{LABEL_PREFIX}/gpu-allocation"

Colour = Literal["blue", "green"]
COLOURS: tuple[Colour, ...] = ("blue", "green")
"""The two colours of every blue-green GPU pool group."""

# Namespace and pod labels.
TEAM_LABEL = f"{LABEL_PREFIX}/team"
MODEL_LABEL = f"{LABEL_PREFIX}/model"
"""Carried by the blueprint's model-server pods (components/serving/workload.py)."""
RAY_MODEL_LABEL = f"{LABEL_PREFIX}/ray-model"
"""Carried by the Ray pods of a ``runtime: kuberay`` model (not :data:`MODEL_LABEL`: those pods stay under the team's
ingress NetworkPolicy); what the team's model-hub egress and the operator's ingress select them by."""
OWNER_LABEL = f"{LABEL_PREFIX}/owner"
MTLS_LABEL = "io.cilium/mtls-enabled"
"""The namespace label that opts a namespace into AKS's sidecar-free mTLS (Cilium + SPIRE + ztunnel, preview)."""
MANAGED_CLUSTER_API_VERSION = "2025-09-01"
"""The ManagedCluster/AgentPool API version of the installed azure-native SDK (3.29.0 default)."""
MTLS_SWITCH_IN_API = False
"""Whether :data:`MANAGED_CLUSTER_API_VERSION` has a property that turns sidecar-free mTLS (or WireGuard transit
encryption) on. It does not: its ``networkProfile.advancedNetworking.security`` has only ``enabled`` and
``advancedNetworkPolicies`` (pulumi_azure_native/containerservice/_inputs.py ``AdvancedNetworkingSecurityArgs``);
``transitEncryption`` and the mTLS enum value exist only in preview API versions. So the label above is a request
that nothing enforces: the plan and the policy pack say so, and nothing claims encryption."""
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Set by Kubernetes itself on every namespace (immutable): what a namespaceSelector can safely match."""


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str = "NoSchedule"

    def aks(self) -> str:
        """The ``key=value:Effect`` form AKS node pools take."""
        return f"{self.key}={self.value}:{self.effect}"

    def toleration(self) -> dict[str, str]:
        """The Kubernetes toleration that matches this taint exactly."""
        return {"key": self.key, "operator": "Equal", "value": self.value, "effect": self.effect}


STANDBY_TAINT = Taint(f"{LABEL_PREFIX}/standby", "true")
"""Keeps new work off the standby colour of a blue-green GPU pool until cut-over."""

SYSTEM_TAINT = Taint("CriticalAddonsOnly", "true")

SPOT_TAINT = Taint("kubernetes.azure.com/scalesetpriority", "spot")
"""Added by AKS itself to every node of a spot pool (never set by the blueprint, always tolerated by it)."""

GPU_TAINTS: dict[str, Taint] = {
    "nvidia": Taint("nvidia.com/gpu", "present"),
    "amd": Taint("amd.com/gpu", "present"),
}
"""Per GPU vendor: the taint every GPU pool carries, so only pods that ask for GPUs land there."""

# Dynamic Resource Allocation.
RESOURCE_API_VERSION = "resource.k8s.io/v1"
NVIDIA_DRIVER = "gpu.nvidia.com"
AMD_DRIVER = "gpu.amd.com"

# Namespaces the platform's charts and policies use.
NVIDIA_DRA_NAMESPACE = "nvidia-dra-driver-gpu"
DEVICE_PLUGIN_NAMESPACE = "nvidia-device-plugin"
DCGM_NAMESPACE = "gpu-monitoring"
HOLMES_NAMESPACE = "holmes"
"""HolmesGPT (components/observability/holmes.py); workload-identity subject ``system:serviceaccount:holmes:holmes``."""
DASHBOARDS_NAMESPACE = "grafana-dashboards"
"""The job that deploys the Grafana dashboards (components/observability/dashboards.py)."""
WORKLOAD_IDENTITY_USE_LABEL = "azure.workload.identity/use"
"""Pod label that makes AKS's workload-identity webhook inject the federated token and AZURE_* variables."""
WORKLOAD_IDENTITY_AUDIENCE = "api://AzureADTokenExchange"
"""Audience of the service-account tokens Entra ID accepts for federated identity credentials."""
RESERVED_NAMESPACES = frozenset(
    {
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "gatekeeper-system",
        "calico-system",
        NVIDIA_DRA_NAMESPACE,
        DEVICE_PLUGIN_NAMESPACE,
    }
)
"""Namespaces Kubernetes, AKS or the DRA charts own: never a team's."""
PLATFORM_NAMESPACES = RESERVED_NAMESPACES | {DCGM_NAMESPACE, HOLMES_NAMESPACE, DASHBOARDS_NAMESPACE}
"""Namespaces that Kubernetes or the platform's charts create on every cluster: never fleet namespaces."""
DEFAULT_NETWORK_POLICY = "default-deny-ingress-from-other-namespaces"
"""The NetworkPolicy every isolated team namespace gets (components/dra), checked by the policy pack."""
METRICS_COLLECTOR = ("kube-system", {"rsName": "ama-metrics"})
"""The managed Prometheus collector's replica (it runs the custom PodMonitor/ServiceMonitor scrape jobs)."""

BUILTIN_ROLES = {
    "Network Contributor": "4d97b98b-1d4f-4787-a291-c67834d212e7",
    "Azure Kubernetes Service RBAC Cluster Admin": "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b",
    "Monitoring Data Reader": "b0d8363b-8ddd-447d-831f-62ca05bff136",
    "Grafana Admin": "22926164-76b3-42b3-bc55-97df8dab3e41",
    "Grafana Viewer": "60921a7e-fef1-4a43-9b16-a26c52ad4769",
    "Grafana Editor": "a79a5197-3a5c-4973-a920-486035ffd60f",
    "Cognitive Services OpenAI User": "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
    # Weight cache (components/weight_cache/); ids as listed in microsoft/azure-skills
    # skills/azure-app-onboard/scaffold/references/rbac-roles.md and Azure's "built-in roles for Storage" page.
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
}
"""Azure built-in role definition ids (the same GUID in every subscription) of the roles the blueprint grants."""
