"""The plan summary's "Monitoring" section (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from components.observability.spec import MonitoringSpec, monitored

if TYPE_CHECKING:
    from components.cluster import ClusterHandle


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
    logs = spec.logs
    lines.append(
        f"  logs: Log Analytics, {logs.retention_days} days; container logs "
        f"{'on (ContainerLogV2)' if logs.container_logs else 'off'}; control plane: "
        f"{', '.join(logs.control_plane) or '(none)'}; defender {'on' if logs.defender else 'off'}"
        if spec.logs_enabled
        else "  logs: off (monitoring.logs.enabled: false)"
    )
    if spec.grafana_enabled:
        lines.append(
            "  dashboards: deployed into Grafana by a workload-identity job (gpu, network)"
            if spec.dashboards_enabled
            else "  dashboards: not deployed (grafana.dashboards: false): import them with grafanaDashboardImports"
        )
    holmes = spec.holmes
    if spec.holmes_enabled:
        aoai = holmes.azure_openai
        source = (
            f"existing account {aoai.existing_account_id.rsplit('/', 1)[-1]}"
            if aoai.existing_account_id
            else f"new account, {aoai.model} {aoai.model_version} {aoai.sku} x{aoai.capacity}k TPM"
        )
        lines.append(
            f"  holmesgpt: chart holmes {holmes.chart_version} on {', '.join(watched) or '(none)'}; Azure OpenAI "
            f"deployment {aoai.deployment} ({source}) via workload identity, read-only RBAC"
        )
    else:
        lines.append("  holmesgpt: off (monitoring.holmes.enabled: false)")
    return lines
