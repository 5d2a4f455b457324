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
    return lines
