"""The plan summary's "Fleet update stages" section (pure)."""

from __future__ import annotations

from components.fleet.plans import stage_plan
from components.fleet.spec import FleetSpec


def fleet_summary_lines(fleet: FleetSpec | None) -> list[str]:
    """The plan summary's Fleet section: which clusters each stage of an update run would upgrade."""
    if fleet is None:
        return ["Fleet update stages", "  (no fleet: each cluster follows its own upgrade.channel)"]
    driver = "no auto-upgrade profile: runs start by hand"
    if fleet.auto_upgrade:
        state = "disabled" if fleet.auto_upgrade.disabled else "on"
        driver = (
            f"auto-upgrade {fleet.auto_upgrade.channel} ({state}), node images "
            f"{fleet.auto_upgrade.node_image_selection}; member clusters' own channel: none"
        )
    lines = [f"Fleet update stages ({driver})"]
    stages = stage_plan(fleet)
    if not stages:
        lines.append("  (no update strategy: a run upgrades members one by one) " + ", ".join(fleet.members))
    for i, stage in enumerate(stages, 1):
        wait = f", then wait {stage.after_stage_wait_in_seconds}s" if stage.after_stage_wait_in_seconds else ""
        lines.append(
            f"  {i}. {stage.name:<10} groups {','.join(stage.groups):<16} -> clusters {', '.join(stage.clusters)}{wait}"
        )
    return lines
