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

With ``logs``: a Log Analytics workspace (:class:`LogWorkspace`, built before the clusters so their
``addonProfiles.omsagent`` can name it), Container insights and control-plane diagnostic settings (``logs.py``).
With ``holmes``: HolmesGPT with Azure OpenAI through workload identity (``holmes.py``). With ``grafana.dashboards``:
the dashboards deployed into Grafana by a workload-identity Job (``dashboards.py``).

Files: ``spec.py`` (the ``monitoring`` models, facts and checks), ``rules.py`` (Prometheus rule groups),
``objects.py`` (the cluster profile, DCGM exporter values, names; pure), ``component.py``
(:class:`Observability`), ``summary.py`` (the plan summary's section). The composition (``stacks/platform.py``)
builds :class:`ObservabilityArgs` from the root config and the cluster handles.
"""

from components.observability.component import MonitoredCluster, Observability, ObservabilityArgs, stack_outputs
from components.observability.logs import LogWorkspace, LogWorkspaceArgs, omsagent_addon
from components.observability.objects import (
    cluster_monitor_profile,
    dashboard_import_command,
    dcgm_exported,
    dcgm_namespace_object,
    dcgm_values,
    prom_name,
)
from components.observability.rules import (
    KUBERNETES_RECORDING_RULES,
    NODE_RECORDING_RULES,
    gpu_alert_rules,
    gpu_recording_rules,
    rule_groups,
)
from components.observability.spec import (
    CONFIG_ACCESS_ASSOCIATION,
    DASHBOARDS,
    DCGM_CHART,
    DCGM_CHART_VERSION,
    DCGM_REPO,
    MonitoringSpec,
    monitored,
    monitoring_issues,
    read_webhook_secrets,
)
from components.observability.summary import summary_lines

__all__ = [
    "CONFIG_ACCESS_ASSOCIATION",
    "DASHBOARDS",
    "DCGM_CHART",
    "DCGM_CHART_VERSION",
    "DCGM_REPO",
    "KUBERNETES_RECORDING_RULES",
    "NODE_RECORDING_RULES",
    "LogWorkspace",
    "LogWorkspaceArgs",
    "MonitoredCluster",
    "MonitoringSpec",
    "Observability",
    "ObservabilityArgs",
    "cluster_monitor_profile",
    "dashboard_import_command",
    "dcgm_exported",
    "dcgm_namespace_object",
    "dcgm_values",
    "gpu_alert_rules",
    "gpu_recording_rules",
    "monitored",
    "monitoring_issues",
    "omsagent_addon",
    "prom_name",
    "read_webhook_secrets",
    "rule_groups",
    "stack_outputs",
    "summary_lines",
]
