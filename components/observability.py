"""Observability: managed Prometheus, Managed Grafana, GPU metrics and alerts, network flow visibility.

Builds, per stack (``ai-platform:monitoring``):

- an Azure Monitor workspace per stack (or per region), its data collection endpoint (kind Linux) and data
  collection rule (kind Linux, ``prometheusForwarder`` -> ``Microsoft-PrometheusMetrics`` -> the workspace);
- per monitored cluster: the rule association, the ``configurationAccessEndpoint`` association (with a
  cluster-region endpoint when the workspace lives elsewhere), the standard node and Kubernetes recording
  rules Azure's dashboards rely on, GPU recording rules and alerts (DCGM), and the DCGM exporter Helm chart
  scraped by the managed collector through an ``azmonitoring.coreos.com/v1`` ServiceMonitor;
- an action group (email and webhook receivers; webhook URLs are secrets read from
  ``ai-platform-secrets:<key>``), Managed Grafana with the workspace integration, "Monitoring Data Reader"
  for Grafana's identity and Grafana Admin/Viewer for Entra groups.

The cluster side (``azureMonitorProfile.metrics`` with kube-state-metrics allow-lists) is built here by
:func:`cluster_monitor_profile` and handed to the cluster component, so the switch is a literal resource
input the policy pack and the plan can see. Nothing here depends on GPU pool resources: a DaemonSet with no
matching node is simply empty.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pulumi
import pulumi_azure_native as azure_native
import pulumi_kubernetes as k8s
from pydantic import Field, model_validator

from components._common import (
    PROJECT,
    TYPE_PREFIX,
    ConfigError,
    Issue,
    Spec,
    azure_name,
    raise_issues,
    role_assignment,
)
from components.cluster import ClusterHandle, ClusterSpec
from components.gpu_pools import (
    LABEL_ALLOCATION,
    LABEL_COLOUR,
    LABEL_GROUP,
    LABEL_ROLE,
    LABEL_VENDOR,
    GpuSlot,
    node_agent_tolerations,
)

if TYPE_CHECKING:
    from stacks.config import PlatformConfig

# --------------------------------------------------------------------------------------------------------------
# Facts (one place): chart, API groups, names.
# --------------------------------------------------------------------------------------------------------------

DCGM_CHART = "dcgm-exporter"
DCGM_REPO = "https://nvidia.github.io/dcgm-exporter/helm-charts"
DCGM_CHART_VERSION = "4.8.3"
"""Chart 4.8.3 (image ``4.6.0-4.8.3``: DCGM 4.6.0, exporter 4.8.3), the first release whose DRA attribution
watches ``resource.k8s.io/v1`` ResourceSlices (4.8.2 and older watch ``v1beta1``: NVIDIA/dcgm-exporter
``internal/pkg/transformation/dra.go`` at tag 4.5.3-4.8.2)."""
DCGM_NAMESPACE = "gpu-monitoring"
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

SECRETS_NAMESPACE = f"{PROJECT}-secrets"
"""Config namespace of secret values (``pulumi config set --secret ai-platform-secrets:<key> ...``)."""


DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"
DASHBOARDS = {"gpu": DASHBOARDS_DIR / "gpu.json", "network": DASHBOARDS_DIR / "network.json"}

NODE_POOL_LABELS = [LABEL_GROUP, LABEL_COLOUR, LABEL_ROLE, LABEL_VENDOR, LABEL_ALLOCATION]
"""Node labels exported by kube-state-metrics as ``kube_node_labels{label_ai_platform_gpu_pool=...}``: the
only way a node's pool reaches GPU series (DCGM series carry the node name, not its labels)."""

_K8S_LABEL = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_SECRET_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
_RECEIVER = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,49}$")


# --------------------------------------------------------------------------------------------------------------
# Configuration: ai-platform:monitoring
# --------------------------------------------------------------------------------------------------------------


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
    scrape_interval: Annotated[str | None, Field(pattern=r"^[1-9][0-9]*s$")] = None
    """Defaults to 30s, or 60s in ``light`` mode."""


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


def cluster_monitor_profile(
    spec: MonitoringSpec, cluster_spec: ClusterSpec
) -> azure_native.containerservice.ManagedClusterAzureMonitorProfileArgs:
    """``azureMonitorProfile`` for one cluster; always a literal ``metrics.enabled`` so policy can read it."""
    cs = azure_native.containerservice
    on = monitored(spec, cluster_spec)
    ksm = spec.kube_state_metrics
    return cs.ManagedClusterAzureMonitorProfileArgs(
        metrics=cs.ManagedClusterAzureMonitorProfileMetricsArgs(
            enabled=on,
            kube_state_metrics=cs.ManagedClusterAzureMonitorProfileKubeStateMetricsArgs(
                metric_labels_allowlist=KubeStateMetricsSpec.render(ksm.labels) or None,
                metric_annotations_allow_list=KubeStateMetricsSpec.render(ksm.annotations) or None,
            )
            if on
            else None,
        )
    )


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


# --------------------------------------------------------------------------------------------------------------
# Prometheus rules
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    expression: str
    record: str | None = None
    alert: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    for_: str | None = None
    severity: int | None = None


@dataclass(frozen=True)
class RuleGroup:
    name: str
    description: str
    rules: list[Rule]


def _r(record: str, expression: str, **labels: str) -> Rule:
    return Rule(expression=" ".join(expression.split()), record=record, labels=dict(labels))


_ACTIVE = 'kube_pod_status_phase{phase=~"Pending|Running"} == 1'

NODE_RECORDING_RULES = [
    _r("instance:node_num_cpu:sum", 'count without (cpu, mode) (node_cpu_seconds_total{job="node",mode="idle"})'),
    _r(
        "instance:node_cpu_utilisation:rate5m",
        '1 - avg without (cpu) (sum without (mode) (rate(node_cpu_seconds_total{job="node", '
        'mode=~"idle|iowait|steal"}[5m])))',
    ),
    _r("instance:node_load1_per_cpu:ratio", '(node_load1{job="node"} / instance:node_num_cpu:sum{job="node"})'),
    _r(
        "instance:node_memory_utilisation:ratio",
        '1 - ((node_memory_MemAvailable_bytes{job="node"} or (node_memory_Buffers_bytes{job="node"} + '
        'node_memory_Cached_bytes{job="node"} + node_memory_MemFree_bytes{job="node"} + '
        'node_memory_Slab_bytes{job="node"})) / node_memory_MemTotal_bytes{job="node"})',
    ),
    _r("instance:node_vmstat_pgmajfault:rate5m", 'rate(node_vmstat_pgmajfault{job="node"}[5m])'),
    _r(
        "instance_device:node_disk_io_time_seconds:rate5m",
        'rate(node_disk_io_time_seconds_total{job="node", device!=""}[5m])',
    ),
    _r(
        "instance_device:node_disk_io_time_weighted_seconds:rate5m",
        'rate(node_disk_io_time_weighted_seconds_total{job="node", device!=""}[5m])',
    ),
    _r(
        "instance:node_network_receive_bytes_excluding_lo:rate5m",
        'sum without (device) (rate(node_network_receive_bytes_total{job="node", device!="lo"}[5m]))',
    ),
    _r(
        "instance:node_network_transmit_bytes_excluding_lo:rate5m",
        'sum without (device) (rate(node_network_transmit_bytes_total{job="node", device!="lo"}[5m]))',
    ),
    _r(
        "instance:node_network_receive_drop_excluding_lo:rate5m",
        'sum without (device) (rate(node_network_receive_drop_total{job="node", device!="lo"}[5m]))',
    ),
    _r(
        "instance:node_network_transmit_drop_excluding_lo:rate5m",
        'sum without (device) (rate(node_network_transmit_drop_total{job="node", device!="lo"}[5m]))',
    ),
]


def _pod_node_join(metric: str) -> str:
    return (
        f'{metric}{{job="cadvisor", image!=""}} * on (namespace, pod) group_left(node) topk by (namespace, pod) '
        f'(1, max by (namespace, pod, node) (kube_pod_info{{node!=""}}))'
    )


def _active_pods(resource: str, kind: str) -> str:
    return (
        f'kube_pod_container_resource_{kind}{{resource="{resource}",job="kube-state-metrics"}} '
        f"* on (namespace, pod, cluster) group_left() max by (namespace, pod, cluster) (({_ACTIVE}))"
    )


def _namespace_sum(resource: str, kind: str) -> str:
    return (
        f"sum by (namespace, cluster) (sum by (namespace, pod, cluster) (max by (namespace, pod, container, "
        f'cluster) (kube_pod_container_resource_{kind}{{resource="{resource}",job="kube-state-metrics"}}) '
        f"* on (namespace, pod, cluster) group_left() max by (namespace, pod, cluster) ({_ACTIVE})))"
    )


def _owner(kind: str) -> str:
    return (
        f'max by (cluster, namespace, workload, pod) (label_replace(kube_pod_owner{{job="kube-state-metrics", '
        f'owner_kind="{kind}"}}, "workload", "$1", "owner_name", "(.*)"))'
    )


KUBERNETES_RECORDING_RULES = [
    _r(
        "node_namespace_pod_container:container_cpu_usage_seconds_total:sum_irate",
        'sum by (cluster, namespace, pod, container) (irate(container_cpu_usage_seconds_total{job="cadvisor", '
        'image!=""}[5m])) * on (cluster, namespace, pod) group_left(node) topk by (cluster, namespace, pod) '
        '(1, max by (cluster, namespace, pod, node) (kube_pod_info{node!=""}))',
    ),
    _r(
        "node_namespace_pod_container:container_memory_working_set_bytes",
        _pod_node_join("container_memory_working_set_bytes"),
    ),
    _r("node_namespace_pod_container:container_memory_rss", _pod_node_join("container_memory_rss")),
    _r("node_namespace_pod_container:container_memory_cache", _pod_node_join("container_memory_cache")),
    _r("node_namespace_pod_container:container_memory_swap", _pod_node_join("container_memory_swap")),
    _r("cluster:namespace:pod_memory:active:kube_pod_container_resource_requests", _active_pods("memory", "requests")),
    _r("namespace_memory:kube_pod_container_resource_requests:sum", _namespace_sum("memory", "requests")),
    _r("cluster:namespace:pod_cpu:active:kube_pod_container_resource_requests", _active_pods("cpu", "requests")),
    _r("namespace_cpu:kube_pod_container_resource_requests:sum", _namespace_sum("cpu", "requests")),
    _r("cluster:namespace:pod_memory:active:kube_pod_container_resource_limits", _active_pods("memory", "limits")),
    _r("namespace_memory:kube_pod_container_resource_limits:sum", _namespace_sum("memory", "limits")),
    _r("cluster:namespace:pod_cpu:active:kube_pod_container_resource_limits", _active_pods("cpu", "limits")),
    _r("namespace_cpu:kube_pod_container_resource_limits:sum", _namespace_sum("cpu", "limits")),
    _r(
        "namespace_workload_pod:kube_pod_owner:relabel",
        "max by (cluster, namespace, workload, pod) (label_replace(label_replace("
        'kube_pod_owner{job="kube-state-metrics", owner_kind="ReplicaSet"}, "replicaset", "$1", "owner_name", "(.*)") '
        "* on (replicaset, namespace) "
        "group_left(owner_name) topk by (replicaset, namespace) (1, max by (replicaset, namespace, owner_name) "
        '(kube_replicaset_owner{job="kube-state-metrics"})), "workload", "$1", "owner_name", "(.*)"))',
        workload_type="deployment",
    ),
    _r("namespace_workload_pod:kube_pod_owner:relabel", _owner("DaemonSet"), workload_type="daemonset"),
    _r("namespace_workload_pod:kube_pod_owner:relabel", _owner("StatefulSet"), workload_type="statefulset"),
    _r("namespace_workload_pod:kube_pod_owner:relabel", _owner("Job"), workload_type="job"),
    _r(
        ":node_memory_MemAvailable_bytes:sum",
        'sum(node_memory_MemAvailable_bytes{job="node"} or (node_memory_Buffers_bytes{job="node"} + '
        'node_memory_Cached_bytes{job="node"} + node_memory_MemFree_bytes{job="node"} + '
        'node_memory_Slab_bytes{job="node"})) by (cluster)',
    ),
    _r(
        "cluster:node_cpu:ratio_rate5m",
        'sum(rate(node_cpu_seconds_total{job="node",mode!="idle",mode!="iowait",mode!="steal"}[5m])) by (cluster) '
        '/ count(sum(node_cpu_seconds_total{job="node"}) by (cluster, instance, cpu)) by (cluster)',
    ),
]

# How labels reach GPU series: DCGM series carry the GPU and (via the ServiceMonitor relabeling) the `node`;
# the node's pool comes from kube_node_labels (kube-state-metrics allow-list `nodes=[ai-platform/gpu-pool,...]`,
# exported as label_ai_platform_gpu_pool). The owning pod's namespace comes from DCGM's pod attribution and, as
# the target already has a `namespace` label (the exporter's), arrives as `exported_namespace`.
GPU_NODE_INFO = "ai_platform:node_gpu_pool:info"
_BY_POOL = f"* on (cluster, node) group_left(gpu_pool) {GPU_NODE_INFO}"


def _team(metric: str) -> str:
    return f'label_replace({metric}{{exported_namespace!=""}}, "namespace", "$1", "exported_namespace", "(.+)")'


def gpu_recording_rules() -> list[Rule]:
    return [
        _r(
            GPU_NODE_INFO,
            "max by (cluster, node, gpu_pool, color, slot_role) (label_replace(label_replace(label_replace("
            'kube_node_labels{label_ai_platform_gpu_pool!=""}, '
            '"gpu_pool", "$1", "label_ai_platform_gpu_pool", "(.+)"), '
            '"color", "$1", "label_ai_platform_color", "(.*)"), "slot_role", "$1", "label_ai_platform_slot_role", '
            '"(.*)"))',
        ),
        _r("ai_platform:gpu_pool:gpu_utilization:avg", f"avg by (cluster, gpu_pool) (DCGM_FI_DEV_GPU_UTIL {_BY_POOL})"),
        _r("ai_platform:gpu_pool:gpus:count", f"count by (cluster, gpu_pool) (DCGM_FI_DEV_GPU_UTIL {_BY_POOL})"),
        _r(
            "ai_platform:gpu_pool:memory_used_bytes:sum",
            f"sum by (cluster, gpu_pool) (DCGM_FI_DEV_FB_USED {_BY_POOL}) * 1048576",
        ),
        _r(
            "ai_platform:gpu_pool:memory_used:ratio",
            f"sum by (cluster, gpu_pool) (DCGM_FI_DEV_FB_USED {_BY_POOL}) / sum by (cluster, gpu_pool) "
            f"((DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) {_BY_POOL})",
        ),
        _r(
            "ai_platform:namespace:gpu_utilization:avg",
            f"avg by (cluster, namespace) ({_team('DCGM_FI_DEV_GPU_UTIL')})",
        ),
        _r(
            "ai_platform:namespace:gpus_allocated:count",
            f"count by (cluster, namespace) ({_team('DCGM_FI_DEV_GPU_UTIL')})",
        ),
        _r(
            "ai_platform:namespace:gpu_memory_used_bytes:sum",
            f"sum by (cluster, namespace) ({_team('DCGM_FI_DEV_FB_USED')}) * 1048576",
        ),
    ]


def gpu_alert_rules(alerts: AlertsSpec, cluster_name: str, slots: Sequence[GpuSlot]) -> list[Rule]:
    idle = alerts.idle_gpu_minutes
    rules = [
        Rule(
            alert="GpuXidError",
            severity=1,
            for_="PT0M",
            expression="max_over_time(DCGM_FI_DEV_XID_ERRORS[5m]) > 0",
            annotations={
                "summary": "GPU {{ $labels.gpu }} on {{ $labels.node }} reported XID {{ $value }}",
                "runbook": "cordon the node; XID 48/63/64/74/79/94/95 usually need a node replacement",
            },
        ),
        Rule(
            alert="GpuHighTemperature",
            severity=2,
            for_="PT10M",
            expression=f"DCGM_FI_DEV_GPU_TEMP > {alerts.gpu_temperature_celsius}",
            annotations={"summary": "GPU {{ $labels.gpu }} on {{ $labels.node }} at {{ $value }} C"},
        ),
        Rule(
            alert="GpuMemoryExhausted",
            severity=3,
            for_="PT15M",
            expression=f"DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) "
            f"> {alerts.gpu_memory_used_ratio}",
            annotations={
                "summary": f"GPU memory on {{{{ $labels.node }}}} above {alerts.gpu_memory_used_ratio:.0%} (OOM risk)"
            },
        ),
        Rule(
            alert="GpuAllocatedIdle",
            severity=3,
            for_="PT15M",
            expression=f'avg_over_time(DCGM_FI_DEV_GPU_UTIL{{exported_pod!=""}}[{idle}m]) '
            f"< {alerts.idle_gpu_utilization_percent}",
            annotations={
                "summary": "GPU held by {{ $labels.exported_namespace }}/{{ $labels.exported_pod }} "
                f"idle for {idle} minutes (paid for, unused)"
            },
        ),
    ]
    # A pool whose active colour must keep nodes (minCount >= 1) and has none Ready. Autoscaled-to-zero pools
    # are not alerted on. `or vector(0)` makes "no nodes at all" fire too.
    for slot in slots:
        if not slot.active or slot.spec.min_count < 1:
            continue
        selector = (
            f'cluster="{cluster_name}", label_ai_platform_gpu_pool="{slot.pool_id}", '
            f'label_ai_platform_color="{slot.colour}"'
        )
        rules.append(
            Rule(
                alert="GpuPoolNoReadyNodes",
                severity=1,
                for_="PT10M",
                labels={"gpu_pool": slot.pool_id, "color": slot.colour},
                expression=(
                    f'(sum(kube_node_status_condition{{cluster="{cluster_name}", condition="Ready", '
                    f'status="true"}} * on (cluster, node) group_left() max by (cluster, node) '
                    f"(kube_node_labels{{{selector}}})) or vector(0)) < 1"
                ),
                annotations={
                    "summary": f"GPU pool {slot.pool_id} ({slot.pool_name}) on {cluster_name} has no Ready node"
                },
            )
        )
    return rules


def rule_groups(spec: MonitoringSpec, cluster_name: str, slots: Sequence[GpuSlot]) -> list[RuleGroup]:
    """The rule groups of one cluster (names follow Azure's ``<Group>-<cluster>`` convention)."""
    groups = [
        RuleGroup(
            f"NodeRecordingRulesRuleGroup-{cluster_name}", "Node Recording Rules Rule Group", NODE_RECORDING_RULES
        ),
        RuleGroup(
            f"KubernetesRecordingRulesRuleGroup-{cluster_name}",
            "Kubernetes Recording Rules Rule Group",
            KUBERNETES_RECORDING_RULES,
        ),
    ]
    if not slots:
        return groups
    alerts = gpu_alert_rules(spec.alerts, cluster_name, slots)
    if dcgm_exported(spec, slots):
        groups.append(
            RuleGroup(
                f"GpuRecordingRulesRuleGroup-{cluster_name}",
                "GPU utilisation and memory per pool and per team namespace (DCGM)",
                gpu_recording_rules(),
            )
        )
    else:
        # Without DCGM series only the node-readiness alert (kube-state-metrics) can fire.
        alerts = [r for r in alerts if r.alert == "GpuPoolNoReadyNodes"]
    if alerts:
        groups.append(RuleGroup(f"GpuAlertsRuleGroup-{cluster_name}", "GPU health, waste and capacity alerts", alerts))
    return groups


# --------------------------------------------------------------------------------------------------------------
# DCGM exporter
# --------------------------------------------------------------------------------------------------------------


def dcgm_exported(spec: MonitoringSpec, slots: Sequence[GpuSlot]) -> bool:
    """Whether the cluster runs the DCGM exporter: it is enabled and the cluster has an NVIDIA GPU pool."""
    return spec.dcgm_exporter.enabled and any(s.sku.gpu.vendor == "nvidia" for s in slots)


def dcgm_values(spec: MonitoringSpec) -> dict[str, Any]:
    """Chart values (documented keys of the chart's values.yaml): GPU nodes of both colours, the managed
    collector's ServiceMonitor, and DRA pod attribution.

    DRA attribution is the chart's own switch ``kubernetesDRA.enabled``. In the chart's templates (4.7.1-4.8.x:
    ``serviceaccount.yaml``, ``daemonset.yaml``, ``clusterrole.yaml``, ``clusterrolebinding.yaml``) it sets
    ``automountServiceAccountToken: true`` on the ServiceAccount and the pod (without a token the exporter
    cannot call the API server), adds the ``KUBERNETES_ENABLE_DRA=true`` env var, and creates the ClusterRole
    ``<release>-dcgm-exporter-read-pods`` (``pods`` and ``resource.k8s.io`` ``resourceslices``:
    get/list/watch) bound to the chart's ServiceAccount. Setting only the env var (through ``extraEnv``) leaves
    the token unmounted and attribution silently off. tests/test_dcgm_chart.py renders the chart with these
    values.
    """
    return {
        "serviceAccount": {"create": True, "name": DCGM_SERVICE_ACCOUNT},
        "nodeSelector": {LABEL_VENDOR: "nvidia"},
        "tolerations": node_agent_tolerations("nvidia"),
        "kubernetesDRA": {"enabled": True},
        "kubernetes": {"enablePodLabels": False},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "service": {"port": DCGM_PORT},
        "serviceMonitor": {
            "enabled": True,
            "apiVersion": MANAGED_COLLECTOR_API,
            "interval": spec.scrape_interval,
            "honorLabels": False,
            "relabelings": [
                {"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node", "action": "replace"}
            ],
        },
    }


def dcgm_namespace_object() -> dict[str, Any]:
    """The exporter's namespace. RBAC for DRA attribution comes from the chart (``kubernetesDRA.enabled``)."""
    labels = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": PROJECT}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": DCGM_NAMESPACE,
            # The exporter runs as root with SYS_ADMIN to read GPU profiling counters.
            "labels": {**labels, "pod-security.kubernetes.io/enforce": "privileged"},
        },
    }


# --------------------------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------------------------


def prom_name(region: str, *parts: str) -> str:
    """``MSProm-<region>-<...>`` within the 44-character DCE/DCR limit, cut with a hash when longer."""
    return "MSProm-" + azure_name(region, *parts, max_len=DCE_DCR_MAX - len("MSProm-"))


def dashboard_import_command(resource_group: str, grafana_name: str, dashboard: str) -> str:
    path = DASHBOARDS[dashboard].relative_to(DASHBOARDS_DIR.parent.parent)
    return (
        f"az grafana dashboard import --resource-group {resource_group} --name {grafana_name} "
        f"--definition {path} --overwrite true"
    )


# --------------------------------------------------------------------------------------------------------------
# Component
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitoredCluster:
    key: str
    name: str
    location: str
    cluster_id: pulumi.Input[str]
    provider: k8s.Provider
    gpu_slots: list[GpuSlot]


@dataclass(frozen=True)
class ObservabilityArgs:
    spec: MonitoringSpec
    environment: str
    location: str
    name_prefix: str
    clusters: list[MonitoredCluster]
    tags: dict[str, str]
    webhook_urls: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    protect: bool = False


@dataclass
class _Workspace:
    region: str
    suffix: str
    """Of its children's logical names: empty with one workspace per stack, ``-<region>`` per region."""
    workspace: azure_native.monitor.AzureMonitorWorkspace
    dce: azure_native.monitor.DataCollectionEndpoint
    dcr: azure_native.monitor.DataCollectionRule


class Observability(pulumi.ComponentResource):
    """The stack's monitoring: workspaces, collection rules, rule groups, alerts, Grafana, GPU exporters."""

    workspace_ids: dict[str, pulumi.Output[str]]
    grafana_endpoint: pulumi.Output[str] | None
    dashboard_imports: dict[str, str]

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:Observability", name, None, opts)
        spec = args.spec
        mon = azure_native.monitor
        tags = {**args.tags, "monitoring-mode": "light" if spec.light else "full"}
        child = pulumi.ResourceOptions(parent=self)
        base = (args.name_prefix, args.environment)

        rg_name = azure_name("rg", *base, "monitoring", max_len=90)
        rg = azure_native.resources.ResourceGroup(
            f"{name}-rg",
            resource_group_name=rg_name,
            location=args.location,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        client = azure_native.authorization.get_client_config_output()

        per_region = spec.workspaces == "region"
        regions = sorted({c.location for c in args.clusters} | {args.location}) if per_region else [args.location]
        workspaces: dict[str, _Workspace] = {}
        for region in regions:
            suffix = f"-{region}" if per_region else ""
            workspace = mon.AzureMonitorWorkspace(
                f"{name}-workspace{suffix}",
                resource_group_name=rg.name,
                location=region,
                azure_monitor_workspace_name=azure_name("amw", *base, region if per_region else "", max_len=44),
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
            )
            dce = mon.DataCollectionEndpoint(
                f"{name}-dce{suffix}",
                resource_group_name=rg.name,
                location=region,
                data_collection_endpoint_name=prom_name(region, *base),
                kind=mon.KnownDataCollectionEndpointResourceKind.LINUX,
                description="Managed Prometheus ingestion endpoint",
                tags=tags,
                opts=child,
            )
            dcr = mon.DataCollectionRule(
                f"{name}-dcr{suffix}",
                resource_group_name=rg.name,
                location=region,
                data_collection_rule_name=prom_name(region, *base),
                kind=mon.KnownDataCollectionRuleResourceKind.LINUX,
                data_collection_endpoint_id=dce.id,
                description="DCR for Azure Monitor Metrics Profile (Managed Prometheus)",
                data_sources=mon.DataCollectionRuleDataSourcesArgs(
                    prometheus_forwarder=[
                        mon.PrometheusForwarderDataSourceArgs(name=PROMETHEUS_DATA_SOURCE, streams=[PROMETHEUS_STREAM])
                    ]
                ),
                destinations=mon.DataCollectionRuleDestinationsArgs(
                    monitoring_accounts=[
                        mon.MonitoringAccountDestinationArgs(
                            account_resource_id=workspace.id, name=MONITORING_ACCOUNT_DESTINATION
                        )
                    ]
                ),
                data_flows=[
                    mon.DataFlowArgs(streams=[PROMETHEUS_STREAM], destinations=[MONITORING_ACCOUNT_DESTINATION])
                ],
                tags=tags,
                opts=child,
            )
            workspaces[region] = _Workspace(region, suffix, workspace, dce, dcr)
        self.workspace_ids = {r: w.workspace.id for r, w in workspaces.items()}

        action_group = self._action_group(name, spec, rg.name, tags, args.webhook_urls)

        # The configuration-access endpoint must be in the cluster's region: a workspace's endpoint where there
        # is one, else one extra endpoint per region.
        config_dces = {region: ws.dce for region, ws in workspaces.items()}
        for cluster in args.clusters:
            if cluster.location not in config_dces:
                config_dces[cluster.location] = mon.DataCollectionEndpoint(
                    f"{name}-dce-config-{cluster.location}",
                    resource_group_name=rg.name,
                    location=cluster.location,
                    data_collection_endpoint_name=prom_name(cluster.location, *base, "cfg"),
                    kind=mon.KnownDataCollectionEndpointResourceKind.LINUX,
                    description="Managed Prometheus configuration access in the cluster region",
                    tags=tags,
                    opts=child,
                )
            ws = workspaces[cluster.location if per_region else args.location]
            self._attach(name, spec, cluster, ws, config_dces[cluster.location], rg.name, action_group, tags)

        self.grafana_endpoint = None
        self.dashboard_imports = {}
        if spec.grafana_enabled:
            self._grafana(name, args, rg.name, rg_name, tags, list(workspaces.values()), client.subscription_id)

        self.register_outputs({"workspaceIds": self.workspace_ids, "grafanaEndpoint": self.grafana_endpoint})

    def _action_group(
        self,
        name: str,
        spec: MonitoringSpec,
        rg_name: pulumi.Input[str],
        tags: dict[str, str],
        webhook_urls: Mapping[str, pulumi.Input[str]],
    ) -> azure_native.monitor.ActionGroup | None:
        alerts = spec.alerts
        if not alerts.has_receivers:
            return None
        mon = azure_native.monitor
        return mon.ActionGroup(
            f"{name}-action-group",
            resource_group_name=rg_name,
            location="Global",
            enabled=True,
            action_group_name=azure_name("ag", name, alerts.action_group_short_name, max_len=260),
            group_short_name=alerts.action_group_short_name,
            email_receivers=[
                mon.MicrosoftCommonEmailReceiverArgs(name=n, email_address=a, use_common_alert_schema=True)
                for n, a in sorted(alerts.emails.items())
            ]
            or None,
            webhook_receivers=[
                mon.WebhookReceiverArgs(
                    name=n,
                    service_uri=pulumi.Output.secret(webhook_urls[n]),
                    use_common_alert_schema=hook.common_alert_schema,
                )
                for n, hook in sorted(alerts.webhooks.items())
            ]
            or None,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _attach(
        self,
        name: str,
        spec: MonitoringSpec,
        cluster: MonitoredCluster,
        ws: _Workspace,
        config_dce: azure_native.monitor.DataCollectionEndpoint,
        rg_name: pulumi.Input[str],
        action_group: azure_native.monitor.ActionGroup | None,
        tags: dict[str, str],
    ) -> None:
        mon = azure_native.monitor
        child = pulumi.ResourceOptions(parent=self)
        prefix = f"{name}-{cluster.key}"
        mon.DataCollectionRuleAssociation(
            f"{prefix}-dcra",
            resource_uri=cluster.cluster_id,
            association_name=prom_name(cluster.location, cluster.name),
            data_collection_rule_id=ws.dcr.id,
            description="Association of data collection rule. Deleting this association will break the data "
            "collection for this AKS Cluster.",
            opts=child,
        )
        mon.DataCollectionRuleAssociation(
            f"{prefix}-dcea",
            resource_uri=cluster.cluster_id,
            association_name=CONFIG_ACCESS_ASSOCIATION,
            data_collection_endpoint_id=config_dce.id,
            description="Association of data collection endpoint (configuration access) for this AKS cluster.",
            opts=child,
        )

        am = azure_native.alertsmanagement
        actions = [am.PrometheusRuleGroupActionArgs(action_group_id=action_group.id)] if action_group else None
        for group in rule_groups(spec, cluster.name, cluster.gpu_slots):
            am.PrometheusRuleGroup(
                f"{prefix}-{group.name.split('-')[0]}",
                resource_group_name=rg_name,
                location=ws.region,
                rule_group_name=group.name,
                cluster_name=cluster.name,
                description=group.description,
                enabled=True,
                interval="PT1M",
                scopes=[ws.workspace.id, cluster.cluster_id],
                tags=tags,
                rules=[
                    am.PrometheusRuleArgs(
                        expression=r.expression,
                        record=r.record,
                        alert=r.alert,
                        labels=r.labels or None,
                        annotations=r.annotations or None,
                        for_=r.for_,
                        severity=r.severity,
                        enabled=True,
                        actions=actions if r.alert else None,
                        resolve_configuration=am.PrometheusRuleResolveConfigurationArgs(
                            auto_resolved=True, time_to_resolve="PT10M"
                        )
                        if r.alert
                        else None,
                    )
                    for r in group.rules
                ],
                opts=child,
            )

        if dcgm_exported(spec, cluster.gpu_slots):
            k8s_opts = pulumi.ResourceOptions(parent=self, provider=cluster.provider)
            ns = k8s.core.v1.Namespace(f"{prefix}-dcgm-ns", metadata=dcgm_namespace_object()["metadata"], opts=k8s_opts)
            k8s.helm.v3.Release(
                f"{prefix}-dcgm-exporter",
                name=DCGM_CHART,
                chart=DCGM_CHART,
                version=spec.dcgm_exporter.chart_version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=DCGM_REPO),
                namespace=DCGM_NAMESPACE,
                values=dcgm_values(spec),
                atomic=True,
                cleanup_on_fail=True,
                opts=pulumi.ResourceOptions(parent=self, provider=cluster.provider, depends_on=[ns]),
            )

    def _grafana(
        self,
        name: str,
        args: ObservabilityArgs,
        rg: pulumi.Input[str],
        rg_name: str,
        tags: dict[str, str],
        workspaces: list[_Workspace],
        subscription_id: pulumi.Input[str],
    ) -> None:
        dash = azure_native.dashboard
        spec = args.spec
        grafana_name = azure_name("graf", args.name_prefix, args.environment, max_len=23)
        grafana = dash.Grafana(
            f"{name}-grafana",
            resource_group_name=rg,
            location=args.location,
            workspace_name=grafana_name,
            sku=dash.ResourceSkuArgs(name="Standard"),
            identity=dash.ManagedServiceIdentityArgs(type=dash.ManagedServiceIdentityType.SYSTEM_ASSIGNED),
            properties=dash.ManagedGrafanaPropertiesArgs(
                api_key=dash.ApiKey.DISABLED,
                deterministic_outbound_ip=dash.DeterministicOutboundIP.DISABLED,
                public_network_access=dash.PublicNetworkAccess.ENABLED,
                zone_redundancy=dash.ZoneRedundancy.ENABLED
                if spec.grafana.zone_redundant
                else dash.ZoneRedundancy.DISABLED,
                grafana_major_version=spec.grafana.major_version,
                grafana_integrations=dash.GrafanaIntegrationsArgs(
                    azure_monitor_workspace_integrations=[
                        dash.AzureMonitorWorkspaceIntegrationArgs(azure_monitor_workspace_resource_id=w.workspace.id)
                        for w in workspaces
                    ]
                ),
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        principal = grafana.identity.apply(lambda i: i.principal_id if i else None)
        for w in workspaces:
            role_assignment(
                f"{name}-grafana-reader{w.suffix}",
                scope=w.workspace.id,
                role="Monitoring Data Reader",
                principal_id=principal,
                principal_type="ServicePrincipal",
                subscription_id=subscription_id,
                parent=self,
            )
        for role, groups in (
            ("Grafana Admin", spec.grafana.admin_group_object_ids),
            ("Grafana Viewer", spec.grafana.viewer_group_object_ids),
        ):
            for group in groups:
                role_assignment(
                    f"{name}-{role.split()[1].lower()}s-{str(group)[:8]}",
                    scope=grafana.id,
                    role=role,
                    principal_id=str(group),
                    principal_type="Group",
                    subscription_id=subscription_id,
                    parent=self,
                )
        self.grafana_endpoint = grafana.properties.apply(lambda p: p.endpoint if p else "")
        # Managed Grafana has no ARM resource for dashboards inside an instance: import with the az CLI.
        self.dashboard_imports = {d: dashboard_import_command(rg_name, grafana_name, d) for d in DASHBOARDS}


# --------------------------------------------------------------------------------------------------------------
# Plan summary
# --------------------------------------------------------------------------------------------------------------


def summary_lines(spec: MonitoringSpec, clusters: Mapping[str, ClusterHandle]) -> list[str]:
    lines = ["Monitoring"]
    if not spec.enabled:
        return [*lines, "  OFF (monitoring.enabled: false)"]
    watched = [k for k, h in clusters.items() if monitored(spec, h.spec)]
    skipped = [k for k in clusters if k not in watched]
    lines.append(
        f"  mode={'light' if spec.light else 'full'} workspaces={spec.workspaces} "
        f"grafana={'on' if spec.grafana_enabled else 'off'} "
        f"dcgm-exporter={spec.dcgm_exporter.chart_version if spec.dcgm_exporter.enabled else 'off'} "
        f"scrape={spec.scrape_interval}"
    )
    lines.append(
        f"  clusters: {', '.join(watched) or '(none)'}"
        + (f"  (not monitored: {', '.join(skipped)})" if skipped else "")
    )
    receivers = [
        *(f"email:{n}" for n in sorted(spec.alerts.emails)),
        *(f"webhook:{n}" for n in sorted(spec.alerts.webhooks)),
    ]
    lines.append(f"  alert receivers: {', '.join(receivers) or '(none: alerts visible in the portal only)'}")
    return lines


def observability_args(
    cfg: PlatformConfig,
    clusters: Mapping[str, ClusterHandle],
    tags: dict[str, str],
    webhook_urls: Mapping[str, pulumi.Input[str]],
) -> ObservabilityArgs:
    """Arguments from the root configuration and the built cluster handles (monitored clusters only)."""
    spec: MonitoringSpec = cfg.monitoring
    return ObservabilityArgs(
        spec=spec,
        environment=cfg.environment,
        location=cfg.location,
        name_prefix=cfg.name_prefix,
        tags=tags,
        webhook_urls=webhook_urls,
        protect=cfg.protect,
        clusters=[
            MonitoredCluster(
                key=k,
                name=h.name,
                location=h.location,
                cluster_id=h.cluster_id,
                provider=h.provider,
                gpu_slots=list(h.gpu_slots),
            )
            for k, h in clusters.items()
            if monitored(spec, h.spec)
        ],
    )


def stack_outputs(monitoring: Observability) -> dict[str, Any]:
    outputs: dict[str, Any] = {"monitoringWorkspaceIds": monitoring.workspace_ids}
    if monitoring.grafana_endpoint is not None:
        outputs["grafanaEndpoint"] = monitoring.grafana_endpoint
        outputs["grafanaDashboardImports"] = monitoring.dashboard_imports
    return outputs
