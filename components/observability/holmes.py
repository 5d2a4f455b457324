"""HolmesGPT (CNCF sandbox, AI troubleshooting) on every monitored cluster, reaching Azure OpenAI through
workload identity: no API key anywhere.

Builds (``ai-platform:monitoring.holmes``, off by default):

- stack level: an Azure OpenAI account (``kind: OpenAI``, ``S0``, custom subdomain, ``disableLocalAuth: true`` so
  keys do not work at all) and a model deployment, unless ``azureOpenAI.existingAccountId`` names one; a
  user-assigned identity ``id-<prefix>-<env>-holmes`` granted "Cognitive Services OpenAI User" on the account;
- per cluster: a federated identity credential trusting the cluster's OIDC issuer for
  ``system:serviceaccount:holmes:holmes``; namespace ``holmes``; the ServiceAccount ``holmes`` annotated with the
  identity's client id; a read-only ClusterRole (get/list/watch; no Secrets, no RBAC objects, no write verb) and its
  binding; the ``holmes`` chart (:data:`HOLMES_CHART_VERSION`) with ``createServiceAccount: false`` so the chart
  creates neither its own ServiceAccount nor its (broader, CRD-wide) ClusterRole.

How the pod authenticates: the chart's ``commonLabels`` put ``azure.workload.identity/use: "true"`` on the pod, so
AKS's workload-identity webhook injects ``AZURE_CLIENT_ID`` (from the ServiceAccount annotation),
``AZURE_TENANT_ID``, ``AZURE_FEDERATED_TOKEN_FILE`` and ``AZURE_AUTHORITY_HOST``; ``AZURE_AD_TOKEN_AUTH=true`` makes
HolmesGPT take Entra tokens from ``DefaultAzureCredential`` for Azure OpenAI instead of ``AZURE_API_KEY``
(HolmesGPT/holmesgpt#1648). The identity's role assignment can take minutes to apply: the first calls may answer
401 until it has.

Data sources: Kubernetes objects, events and pod logs (toolsets ``kubernetes/core``, ``kubernetes/logs``) through
the read-only role. Managed Prometheus and Log Analytics are not wired, because no HolmesGPT toolset verified for
the pinned release reaches them with a workload identity: ``azuremonitor-metrics`` and ``azuremonitorlogs`` exist
only in the unmerged HolmesGPT/holmesgpt#782 ("CLI only"), and the Azure mode of ``prometheus/metrics``
(HolmesGPT/holmesgpt#1361) accepts a client secret or the node's IMDS identity, not a federated token: with only the
webhook's ``AZURE_CLIENT_ID``/``AZURE_TENANT_ID`` it falls back to unauthenticated requests (docs/observability.md,
"HolmesGPT", has the sources). So ``prometheus/metrics`` stays off. Toolsets that reach
outside the cluster (``internet``, ``robusta``) or run shell commands (``bash``) are off, and so is telemetry.
"""

from __future__ import annotations

from typing import Any

from components._common import PROJECT
from components.facts import HOLMES_NAMESPACE, SYSTEM_TAINT, WORKLOAD_IDENTITY_USE_LABEL
from components.observability.spec import (
    HOLMES_SERVICE_ACCOUNT,
    OPENAI_API_VERSION,
    HolmesSpec,
)

HOLMES_MODEL_KEY = "azure-openai"
READ_VERBS = ["get", "list", "watch"]
HOLMES_READ_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [""],
        "resources": [
            "pods",
            "pods/log",
            "pods/status",
            "events",
            "nodes",
            "namespaces",
            "services",
            "endpoints",
            "configmaps",
            "persistentvolumes",
            "persistentvolumeclaims",
            "replicationcontrollers",
            "resourcequotas",
            "limitranges",
            "serviceaccounts",
        ],
        "verbs": READ_VERBS,
    },
    {
        "apiGroups": ["apps"],
        "resources": ["deployments", "daemonsets", "statefulsets", "replicasets"],
        "verbs": READ_VERBS,
    },
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": READ_VERBS},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": READ_VERBS},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies", "ingresses"], "verbs": READ_VERBS},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": READ_VERBS},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": READ_VERBS},
    {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": READ_VERBS},
    {"apiGroups": ["metrics.k8s.io"], "resources": ["pods", "nodes"], "verbs": ["get", "list"]},
    {
        "apiGroups": ["resource.k8s.io"],
        "resources": ["deviceclasses", "resourceclaims", "resourceclaimtemplates", "resourceslices"],
        "verbs": READ_VERBS,
    },
    {
        "apiGroups": ["cilium.io"],
        "resources": ["ciliumnetworkpolicies", "ciliumclusterwidenetworkpolicies", "ciliumendpoints"],
        "verbs": READ_VERBS,
    },
    {"apiGroups": ["azmonitoring.coreos.com"], "resources": ["servicemonitors", "podmonitors"], "verbs": READ_VERBS},
    {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["get", "list"]},
]
"""What HolmesGPT may read: workloads, their logs and events, nodes, DRA claims and slices, network policies.
Never Secrets (the chart's own role does not list them either) and never a write verb."""

_LABELS = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": PROJECT}


def holmes_namespace_object() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": HOLMES_NAMESPACE,
            "labels": {**_LABELS, "pod-security.kubernetes.io/enforce": "baseline"},
        },
    }


def holmes_service_account_object(client_id: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": HOLMES_SERVICE_ACCOUNT,
            "namespace": HOLMES_NAMESPACE,
            "labels": dict(_LABELS),
            "annotations": {"azure.workload.identity/client-id": client_id},
        },
    }


def holmes_cluster_role_object() -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "holmes-read-only", "labels": dict(_LABELS)},
        "rules": [dict(rule) for rule in HOLMES_READ_RULES],
    }


def holmes_cluster_role_binding_object() -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "holmes-read-only", "labels": dict(_LABELS)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "holmes-read-only"},
        "subjects": [{"kind": "ServiceAccount", "name": HOLMES_SERVICE_ACCOUNT, "namespace": HOLMES_NAMESPACE}],
    }


def openai_endpoint(spec: HolmesSpec, account_name: str) -> str:
    """The account's endpoint: the existing one's from config, or ``https://<customSubDomainName>.openai.azure.com/``
    for the account the blueprint creates (kind OpenAI, custom subdomain = account name), known before it exists so
    the chart values are literal in the plan."""
    return spec.azure_openai.endpoint or f"https://{account_name}.openai.azure.com/"


def holmes_values(spec: HolmesSpec, endpoint: str) -> dict[str, Any]:
    """Values of the ``holmes`` chart (keys of its values.yaml at :data:`HOLMES_CHART_VERSION`, except
    ``enableTelemetry``, which ``templates/_helpers.tpl`` reads with ``hasKey`` and which defaults to on when
    ``ROBUSTA_UI_DOMAIN`` is unset). tests/test_holmes_chart.py checks them against the chart's values.yaml."""
    deployment = spec.azure_openai.deployment
    return {
        "createServiceAccount": False,
        "customServiceAccountName": HOLMES_SERVICE_ACCOUNT,
        "commonLabels": {WORKLOAD_IDENTITY_USE_LABEL: "true"},
        "enableTelemetry": False,
        "sentryDSN": "",
        "additionalEnvVars": [
            {"name": "AZURE_AD_TOKEN_AUTH", "value": "true"},
            {"name": "AZURE_API_BASE", "value": endpoint},
            {"name": "AZURE_API_VERSION", "value": OPENAI_API_VERSION},
        ],
        "modelList": {
            HOLMES_MODEL_KEY: {
                "model": f"azure/{deployment}",
                "api_base": endpoint,
                "api_version": OPENAI_API_VERSION,
                "temperature": 0,
            }
        },
        "toolsets": {
            "kubernetes/core": {"enabled": True},
            "kubernetes/logs": {"enabled": True},
            "robusta": {"enabled": False},
            "internet": {"enabled": False},
            "prometheus/metrics": {"enabled": False},
            "skills": {"enabled": False},
            "connectivity_check": {"enabled": False},
            "bash": {"enabled": False},
        },
        "containerSecurityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "tolerations": [{"key": SYSTEM_TAINT.key, "operator": "Exists", "effect": SYSTEM_TAINT.effect}],
        "resources": {"requests": {"cpu": "100m", "memory": "1024Mi"}, "limits": {"memory": "2048Mi"}},
    }
