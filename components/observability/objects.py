"""Resource inputs of monitoring (pure): the cluster's ``azureMonitorProfile``, the DCGM exporter's chart
values and namespace, and Azure Monitor names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pulumi_azure_native as azure_native

from components._common import (
    PROJECT,
    azure_name,
)
from components.facts import (
    DCGM_NAMESPACE,
    LABEL_VENDOR,
)
from components.gpu_pools import GpuSlot, node_agent_tolerations
from components.observability.spec import (
    DASHBOARDS,
    DASHBOARDS_DIR,
    DCE_DCR_MAX,
    DCGM_PORT,
    DCGM_SERVICE_ACCOUNT,
    MANAGED_COLLECTOR_API,
    KubeStateMetricsSpec,
    MonitoringSpec,
    monitored,
)

if TYPE_CHECKING:
    from components.cluster import ClusterSpec


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


def prom_name(region: str, *parts: str) -> str:
    """``MSProm-<region>-<...>`` within the 44-character DCE/DCR limit, cut with a hash when longer."""
    return "MSProm-" + azure_name(region, *parts, max_len=DCE_DCR_MAX - len("MSProm-"))


def dashboard_import_command(resource_group: str, grafana_name: str, dashboard: str) -> str:
    path = DASHBOARDS[dashboard].relative_to(DASHBOARDS_DIR.parent.parent)
    return (
        f"az grafana dashboard import --resource-group {resource_group} --name {grafana_name} "
        f"--definition {path} --overwrite true"
    )
