"""Configuration of monitoring: ``ai-platform:monitoring`` (alerts, Grafana, kube-state-metrics, the DCGM
exporter), its facts (chart, API groups, names) and the checks against the clusters.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import pulumi
from pydantic import Field, model_validator

from components._common import (
    PROJECT,
    SECRETS_NAMESPACE,
    ConfigError,
    Issue,
    Spec,
    raise_issues,
)
from components.facts import (
    LABEL_ALLOCATION,
    LABEL_COLOUR,
    LABEL_GROUP,
    LABEL_ROLE,
    LABEL_VENDOR,
)

if TYPE_CHECKING:
    from components.cluster import ClusterSpec

DCGM_CHART = "dcgm-exporter"
DCGM_REPO = "https://nvidia.github.io/dcgm-exporter/helm-charts"
DCGM_CHART_VERSION = "4.8.3"
"""Chart 4.8.3 (image ``4.6.0-4.8.3``: DCGM 4.6.0, exporter 4.8.3), the first release whose DRA attribution
watches ``resource.k8s.io/v1`` ResourceSlices (4.8.2 and older watch ``v1beta1``: NVIDIA/dcgm-exporter
``internal/pkg/transformation/dra.go`` at tag 4.5.3-4.8.2)."""
DCGM_SERVICE_ACCOUNT = "dcgm-exporter"
DCGM_PORT = 9400
MANAGED_COLLECTOR_API = "azmonitoring.coreos.com/v1"
"""The only monitor API group the AKS managed Prometheus collector (ama-metrics) reads."""

PROMETHEUS_STREAM = "Microsoft-PrometheusMetrics"
MONITORING_ACCOUNT_DESTINATION = "MonitoringAccount1"
PROMETHEUS_DATA_SOURCE = "PrometheusDataSource"
CONFIG_ACCESS_ASSOCIATION = "configurationAccessEndpoint"
"""Azure requires exactly this name for the association that carries the endpoint id."""
DCE_DCR_MAX = 44


# Logs (Log Analytics, Container insights, control-plane diagnostics).
CONTROL_PLANE_CATEGORIES = (
    "kube-apiserver",
    "kube-audit",
    "kube-audit-admin",
    "kube-controller-manager",
    "kube-scheduler",
    "cluster-autoscaler",
    "cloud-controller-manager",
    "guard",
    "csi-azuredisk-controller",
    "csi-azurefile-controller",
    "csi-snapshot-controller",
)
"""AKS resource-log categories of ``Microsoft.ContainerService/managedClusters`` (learn.microsoft.com/azure/aks/
monitor-aks-reference, "Resource logs"): what a diagnostic setting may name."""
ControlPlaneCategory = Literal[
    "kube-apiserver",
    "kube-audit",
    "kube-audit-admin",
    "kube-controller-manager",
    "kube-scheduler",
    "cluster-autoscaler",
    "cloud-controller-manager",
    "guard",
    "csi-azuredisk-controller",
    "csi-azurefile-controller",
    "csi-snapshot-controller",
]
AUDIT_CATEGORY = "kube-audit-admin"
"""Write (non-get/list) audit events: what the Defender advisory and an incident review need; staging and prod
must send it (configuration check and the ``logs-kube-audit-admin`` policy)."""
DEFAULT_CONTROL_PLANE_CATEGORIES: tuple[ControlPlaneCategory, ...] = (
    "kube-audit-admin",
    "guard",
    "kube-controller-manager",
    "kube-apiserver",
    "cluster-autoscaler",
)
CONTAINER_INSIGHTS_STREAMS = (
    "Microsoft-ContainerLogV2",
    "Microsoft-KubeEvents",
    "Microsoft-KubePodInventory",
    "Microsoft-KubeNodeInventory",
    "Microsoft-KubePVInventory",
    "Microsoft-KubeServices",
    "Microsoft-KubeMonAgentEvents",
    "Microsoft-InsightsMetrics",
    "Microsoft-ContainerInventory",
    "Microsoft-ContainerNodeInventory",
    "Microsoft-Perf",
)
"""Container insights streams (microsoft/Docker-Provider scripts/onboarding/aks/onboarding-using-msi-auth/
existingClusterParam.json) less the legacy ``Microsoft-ContainerLog`` table and the flow-log stream: container
stdout/stderr go to ``ContainerLogV2`` only."""
CONTAINER_INSIGHTS_EXTENSION = "ContainerInsights"
CONTAINER_INSIGHTS_DATA_SOURCE = "ContainerInsightsExtension"
"""Name of the extension data source and, by Azure's convention, of the cluster's rule association."""
LOG_ANALYTICS_DESTINATION = "ciworkspace"

# HolmesGPT (AI troubleshooting, CNCF sandbox).
HOLMES_CHART = "holmes"
HOLMES_REPO = "https://robusta-charts.storage.googleapis.com"
HOLMES_CHART_VERSION = "0.39.0"
"""Chart ``holmes`` 0.39.0 (appVersion 0.39.0, image ``robustadev/holmes:0.39.0``), as vendored by
robusta-dev/robusta ``helm/robusta/charts/holmes-0.39.0.tgz`` from this repository (Chart.lock of 2026-08-10).
Entra ID (``AZURE_AD_TOKEN_AUTH``) support for Azure OpenAI arrived with HolmesGPT/holmesgpt#1648 (2026-02);
0.16.x still demands ``AZURE_API_KEY`` at start-up. Values checked in tests/test_holmes_chart.py."""
HOLMES_SERVICE_ACCOUNT = "holmes"
OPENAI_API_VERSION = "2025-01-01-preview"
"""The Azure OpenAI data-plane API version HolmesGPT's Azure OpenAI docs use."""
_OPENAI_ACCOUNT_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.CognitiveServices/accounts/[^/]+$",
    re.IGNORECASE,
)
_OPENAI_ENDPOINT = re.compile(r"^https://[a-z0-9][a-z0-9-]{1,62}\.(openai|cognitiveservices)\.azure\.com/?$")

# Dashboards as code.
GRAFANA_AUDIENCE = "ce34e7e5-485f-4d76-964f-b3d2b16d1e4f"
"""Application id of Azure Managed Grafana: the audience of Entra tokens its HTTP API accepts
(learn.microsoft.com/azure/managed-grafana/how-to-api-calls)."""
AZURE_CLI_IMAGE = "mcr.microsoft.com/azure-cli:2.67.0"
"""Image of the dashboard job: ``az login --federated-token`` and ``az rest --resource`` (no extension, no curl)."""
DASHBOARDS_DIR = Path(__file__).resolve().parent.parent / "dashboards"
DASHBOARDS = {"gpu": DASHBOARDS_DIR / "gpu.json", "network": DASHBOARDS_DIR / "network.json"}

NODE_POOL_LABELS = [LABEL_GROUP, LABEL_COLOUR, LABEL_ROLE, LABEL_VENDOR, LABEL_ALLOCATION]
"""Node labels exported by kube-state-metrics as ``kube_node_labels{label_ai_platform_gpu_pool=...}``: the
only way a node's pool reaches GPU series (DCGM series carry the node name, not its labels)."""

_K8S_LABEL = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_SECRET_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
_RECEIVER = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,49}$")


class WebhookSpec(Spec):
    url_secret: str
    """Key of the secret URL in the ``ai-platform-secrets`` namespace (never a URL in plain config)."""
    common_alert_schema: bool = True


def _receiver_name_issues(kind: str, name: str, example: str) -> list[Issue]:
    if _RECEIVER.match(name):
        return []
    return [
        Issue(
            (kind, name),
            "receiver name must be letters, digits and hyphens",
            name,
            _RECEIVER.pattern,
            f"rename the receiver, e.g. {example}",
        )
    ]


class AlertsSpec(Spec):
    action_group_short_name: Annotated[str, Field(min_length=1, max_length=12)] = "aiplatform"
    emails: dict[str, str] = Field(default_factory=dict)
    """Receiver name -> address."""
    webhooks: dict[str, WebhookSpec] = Field(default_factory=dict)
    gpu_temperature_celsius: Annotated[int, Field(ge=60, le=110)] = 85
    gpu_memory_used_ratio: Annotated[float, Field(gt=0.5, le=1.0)] = 0.95
    idle_gpu_minutes: Annotated[int, Field(ge=10, le=1440)] = 60
    idle_gpu_utilization_percent: Annotated[int, Field(ge=1, le=50)] = 5

    @model_validator(mode="after")
    def _check(self) -> AlertsSpec:
        issues: list[Issue] = []
        for name, address in self.emails.items():
            issues.extend(_receiver_name_issues("emails", name, "platform-oncall"))
            if not _EMAIL.match(address):
                issues.append(
                    Issue(
                        ("emails", name), "is not an email address", address, "name@domain.tld", "correct the address"
                    )
                )
        for name, hook in self.webhooks.items():
            issues.extend(_receiver_name_issues("webhooks", name, "pagerduty"))
            if hook.url_secret.lower().startswith(("http:", "https:")) or not _SECRET_KEY.match(hook.url_secret):
                issues.append(
                    Issue(
                        ("webhooks", name, "urlSecret"),
                        f"must name a secret config key in the {SECRETS_NAMESPACE} namespace, not a URL",
                        hook.url_secret,
                        "a key such as oncallWebhookUrl",
                        f"pulumi config set --secret {SECRETS_NAMESPACE}:oncallWebhookUrl <url>, "
                        "then urlSecret: oncallWebhookUrl",
                    )
                )
        raise_issues(issues)
        return self

    @property
    def has_receivers(self) -> bool:
        return bool(self.emails or self.webhooks)


class GrafanaSpec(Spec):
    enabled: bool | None = None
    """Defaults to on, except in ``light`` mode."""
    admin_group_object_ids: list[uuid.UUID] = Field(default_factory=list)
    """Entra groups granted "Grafana Admin" on the Grafana instance."""
    viewer_group_object_ids: list[uuid.UUID] = Field(default_factory=list)
    """Entra groups granted "Grafana Viewer"."""
    zone_redundant: bool = False
    major_version: Annotated[str | None, Field(pattern=r"^\d{2}$")] = None
    """Grafana major version; unset lets Azure choose its current default."""
    dashboards: bool = False
    """Deploy components/dashboards/*.json into the instance (a Kubernetes Job with workload identity calling
    Grafana's HTTP API; components/observability/dashboards.py). Off: the plan prints import commands."""


class LogsSpec(Spec):
    """Log Analytics: container logs (Container insights, ``ContainerLogV2``) and control-plane diagnostics."""

    enabled: bool = False
    retention_days: Annotated[int, Field(ge=30, le=730)] = 30
    """Interactive retention of the workspace (PerGB2018 allows 30-730 days)."""
    container_logs: bool = True
    """Container insights on every monitored cluster (``addonProfiles.omsagent`` + its data collection rule)."""
    control_plane: list[ControlPlaneCategory] = Field(default_factory=lambda: list(DEFAULT_CONTROL_PLANE_CATEGORIES))
    """Resource-log categories of each cluster's diagnostic setting (resource-specific tables)."""
    defender: bool = False
    """Microsoft Defender for Containers on every monitored cluster, reporting to this workspace (unless the
    cluster names its own ``security.defenderLogAnalyticsWorkspaceId``). Turns the workspace's shared keys back on:
    Defender's publisher pods do not support Entra ID auth yet (Azure/Microsoft-Defender-for-Cloud#1010)."""

    @model_validator(mode="after")
    def _check(self) -> LogsSpec:
        duplicates = sorted({c for c in self.control_plane if self.control_plane.count(c) > 1})
        if duplicates:
            raise_issues(
                [
                    Issue(
                        ("controlPlane",),
                        "lists a category twice",
                        duplicates,
                        "each category once",
                        "remove the duplicate entries",
                    )
                ]
            )
        return self


class AzureOpenAISpec(Spec):
    """The Azure OpenAI deployment HolmesGPT calls: created by the blueprint, or an existing one."""

    existing_account_id: str | None = None
    """ARM id of an existing ``Microsoft.CognitiveServices/accounts`` (kind OpenAI) to use instead of creating one.
    Its network rules are yours; the blueprint grants HolmesGPT's identity "Cognitive Services OpenAI User" on it."""
    endpoint: str | None = None
    """Required with ``existingAccountId``: its custom-subdomain endpoint, ``https://<name>.openai.azure.com/``."""
    deployment: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")] = "holmes-gpt-41"
    """Deployment name (created, or the existing account's)."""
    model: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,63}$")] = "gpt-4.1"
    model_version: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")] = "2025-04-14"
    sku: Literal["GlobalStandard", "DataZoneStandard", "Standard"] = "GlobalStandard"
    capacity: Annotated[int, Field(ge=1, le=1000)] = 50
    """Thousands of tokens per minute."""

    @model_validator(mode="after")
    def _check(self) -> AzureOpenAISpec:
        issues: list[Issue] = []
        if self.existing_account_id is not None and not _OPENAI_ACCOUNT_ID.match(self.existing_account_id):
            issues.append(
                Issue(
                    ("existingAccountId",),
                    "is not the ARM id of a Cognitive Services account",
                    self.existing_account_id,
                    "/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.CognitiveServices/accounts/<name>",
                    "copy the id from `az cognitiveservices account show --query id`",
                )
            )
        if (self.existing_account_id is None) != (self.endpoint is None):
            issues.append(
                Issue(
                    ("endpoint",) if self.existing_account_id else ("existingAccountId",),
                    "existingAccountId and endpoint go together (an existing account needs its endpoint)",
                    self.endpoint if self.existing_account_id else self.existing_account_id,
                    "both set, or neither (the blueprint creates the account)",
                    "set both keys, or remove both",
                )
            )
        if self.endpoint is not None and not _OPENAI_ENDPOINT.match(self.endpoint):
            issues.append(
                Issue(
                    ("endpoint",),
                    "is not a custom-subdomain Azure OpenAI endpoint (Entra ID tokens need one)",
                    self.endpoint,
                    "https://<name>.openai.azure.com/",
                    "copy properties.endpoint of the account",
                )
            )
        raise_issues(issues)
        return self


class HolmesSpec(Spec):
    """HolmesGPT on every monitored cluster: read-only Kubernetes access, Azure OpenAI through workload identity."""

    enabled: bool = False
    chart_version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")] = HOLMES_CHART_VERSION
    azure_openai: AzureOpenAISpec = Field(default_factory=AzureOpenAISpec, alias="azureOpenAI")


class KubeStateMetricsSpec(Spec):
    """kube-state-metrics allow-lists: resource (plural, e.g. ``nodes``) -> label or annotation keys."""

    labels: dict[str, list[str]] = Field(default_factory=lambda: {"nodes": list(NODE_POOL_LABELS)})
    annotations: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> KubeStateMetricsSpec:
        issues: list[Issue] = []
        for kind, allow in (("labels", self.labels), ("annotations", self.annotations)):
            for resource, keys in allow.items():
                if not re.match(r"^[a-z][a-z0-9]*$", resource):
                    issues.append(
                        Issue(
                            (kind, resource),
                            "is not a Kubernetes resource name (plural, lowercase)",
                            resource,
                            "e.g. nodes, namespaces, pods",
                            "use the plural resource name",
                        )
                    )
                for i, key in enumerate(keys):
                    if key != "*" and not _K8S_LABEL.match(key):
                        issues.append(
                            Issue(
                                (kind, resource, i),
                                "is not a Kubernetes label/annotation key",
                                key,
                                "[prefix/]name or *",
                                "correct the key",
                            )
                        )
        if "nodes" in self.labels and LABEL_GROUP not in self.labels["nodes"] and "*" not in self.labels["nodes"]:
            issues.append(
                Issue(
                    ("labels", "nodes"),
                    f"must include {LABEL_GROUP}: the GPU per-pool rules join DCGM series to kube_node_labels on it",
                    self.labels["nodes"],
                    f"a list containing {LABEL_GROUP}",
                    f"add {LABEL_GROUP}",
                )
            )
        raise_issues(issues)
        return self

    @staticmethod
    def render(allow: Mapping[str, list[str]]) -> str:
        """AKS's format: ``nodes=[a,b],namespaces=[c]``."""
        return ",".join(f"{resource}=[{','.join(keys)}]" for resource, keys in sorted(allow.items()) if keys)


class DcgmExporterSpec(Spec):
    enabled: bool = True
    chart_version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")] = DCGM_CHART_VERSION
    scrape_interval: Annotated[str | None, Field(pattern=r"^([1-9][0-9]?|[12][0-9]{2}|300)s$")] = None
    """Defaults to 30s, or 60s in ``light`` mode; 1s..300s: Prometheus forgets a series 5 minutes after its last
    sample (the query lookback delta), so a longer interval makes GPU series and their alerts blink out."""


class MonitoringSpec(Spec):
    enabled: bool = True
    """Required in staging and prod."""
    light: bool = False
    """Reduced mode for dev: no Managed Grafana (use the portal's Prometheus views) and a slower GPU scrape."""
    workspaces: Literal["stack", "region"] = "stack"
    """One Azure Monitor workspace for the stack (in ``location``) or one per cluster region."""
    alerts: AlertsSpec = Field(default_factory=AlertsSpec)
    grafana: GrafanaSpec = Field(default_factory=GrafanaSpec)
    kube_state_metrics: KubeStateMetricsSpec = Field(default_factory=KubeStateMetricsSpec)
    dcgm_exporter: DcgmExporterSpec = Field(default_factory=DcgmExporterSpec)
    logs: LogsSpec = Field(default_factory=LogsSpec)
    holmes: HolmesSpec = Field(default_factory=HolmesSpec)

    @property
    def logs_enabled(self) -> bool:
        return self.enabled and self.logs.enabled

    @property
    def holmes_enabled(self) -> bool:
        return self.enabled and self.holmes.enabled

    @property
    def dashboards_enabled(self) -> bool:
        return self.grafana_enabled and self.grafana.dashboards

    @property
    def grafana_enabled(self) -> bool:
        return self.enabled and (self.grafana.enabled if self.grafana.enabled is not None else not self.light)

    @property
    def scrape_interval(self) -> str:
        return self.dcgm_exporter.scrape_interval or ("60s" if self.light else "30s")

    @model_validator(mode="after")
    def _check(self) -> MonitoringSpec:
        issues: list[Issue] = []
        grafana_groups = self.grafana.admin_group_object_ids or self.grafana.viewer_group_object_ids
        if grafana_groups and self.enabled and not self.grafana_enabled:
            issues.append(
                Issue(
                    ("grafana", "enabled"),
                    "Grafana groups are configured but Grafana is off",
                    self.grafana.enabled,
                    "true (or remove the group ids)",
                    "set grafana.enabled: true, or remove adminGroupObjectIds/viewerGroupObjectIds",
                )
            )
        if self.grafana.dashboards and self.enabled and not self.grafana_enabled:
            issues.append(
                Issue(
                    ("grafana", "dashboards"),
                    "dashboards are deployed into Managed Grafana, which is off",
                    True,
                    "false, or Grafana on",
                    "remove grafana.dashboards, or turn Grafana on",
                )
            )
        raise_issues(issues)
        return self


def monitoring_issues(environment: str, spec: MonitoringSpec, clusters: Mapping[str, ClusterSpec]) -> list[Issue]:
    """Environment rules, with paths relative to the root model: staging and prod are always monitored."""
    if environment not in ("staging", "prod"):
        return []
    issues: list[Issue] = []
    if not spec.enabled:
        issues.append(
            Issue(
                ("monitoring", "enabled"),
                f"monitoring is required in {environment}",
                False,
                "true",
                "set monitoring.enabled: true",
            )
        )
    if spec.light:
        issues.append(
            Issue(
                ("monitoring", "light"),
                f"the reduced monitoring mode is for dev, not {environment}",
                True,
                "false",
                "remove monitoring.light",
            )
        )
    if not spec.alerts.has_receivers:
        issues.append(
            Issue(
                ("monitoring", "alerts"),
                f"alerts in {environment} need at least one receiver",
                {},
                "emails or webhooks",
                "add monitoring.alerts.emails.<name>: <address>",
            )
        )
    if spec.enabled and not spec.light:
        for kind, groups in (
            ("adminGroupObjectIds", spec.grafana.admin_group_object_ids),
            ("viewerGroupObjectIds", spec.grafana.viewer_group_object_ids),
        ):
            if spec.grafana_enabled and not groups:
                issues.append(
                    Issue(
                        ("monitoring", "grafana", kind),
                        f"Grafana in {environment} needs at least one Entra group here (nobody could sign in "
                        "otherwise, or everyone would need an ad-hoc grant)",
                        [],
                        "one or more Entra group object ids",
                        f"add monitoring.grafana.{kind}: [<group object id>] (az ad group show -g <name> --query id)",
                    )
                )
    if spec.enabled and not spec.logs.enabled:
        issues.append(
            Issue(
                ("monitoring", "logs", "enabled"),
                f"container logs and control-plane audit logs are required in {environment}",
                False,
                "true",
                "set monitoring.logs.enabled: true",
            )
        )
    elif spec.enabled and AUDIT_CATEGORY not in spec.logs.control_plane:
        issues.append(
            Issue(
                ("monitoring", "logs", "controlPlane"),
                f"must include {AUDIT_CATEGORY} in {environment} (write audit events)",
                list(spec.logs.control_plane),
                f"a list containing {AUDIT_CATEGORY}",
                f"add {AUDIT_CATEGORY}",
            )
        )
    for key, cluster in clusters.items():
        if not cluster.features.monitoring:
            issues.append(
                Issue(
                    ("clusters", key, "features", "monitoring"),
                    f"monitoring is required in {environment}",
                    False,
                    "true",
                    "remove features.monitoring: false",
                )
            )
    return issues


def monitored(spec: MonitoringSpec, cluster_spec: ClusterSpec) -> bool:
    return spec.enabled and cluster_spec.features.monitoring


def read_webhook_secrets(spec: MonitoringSpec, source: str) -> dict[str, pulumi.Output[str]]:
    """The webhook URLs as secret Outputs; a missing secret is a configuration error before anything registers."""
    if not spec.enabled:
        return {}
    config = pulumi.Config(SECRETS_NAMESPACE)
    urls: dict[str, pulumi.Output[str]] = {}
    missing: list[str] = []
    for name, hook in sorted(spec.alerts.webhooks.items()):
        value = config.get_secret(hook.url_secret)
        if value is None:
            missing.append(
                f"{source}: {SECRETS_NAMESPACE}:{hook.url_secret}: is required by "
                f"{PROJECT}:monitoring.alerts.webhooks.{name}.urlSecret (got nothing). "
                f"Fix: pulumi config set --secret {SECRETS_NAMESPACE}:{hook.url_secret} <webhook url>"
            )
        else:
            urls[name] = value
    if missing:
        raise ConfigError(missing)
    return urls
