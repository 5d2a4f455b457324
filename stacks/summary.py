"""Human-readable summary of an offline plan: what would be created, per cluster and component."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from components.dra import dra_summary_lines
from components.fleet import fleet_summary_lines
from components.observability import summary_lines as monitoring_summary_lines
from components.serving import analyse
from components.serving.report import MARKDOWN_HEADER, fit_markdown_rows, fit_table
from policies.offline import summary_lines as policy_summary_lines
from stacks.plan import Plan, Registration

if TYPE_CHECKING:
    from stacks.config import PlatformConfig


def _owner(registration: Registration, by_urn: dict[str, Registration]) -> str:
    """The top-level component a resource belongs to (a cluster id, or a stack-level component)."""
    current = registration
    while current.parent and current.parent in by_urn:
        current = by_urn[current.parent]
    return current.name


def render_summary(plan: Plan) -> str:
    by_urn = {r.urn: r for r in plan.resources}
    lines = [f"Offline plan: project {plan.project}, stack {plan.stack} ({plan.config.environment})"]
    custom = [r for r in plan.resources if r.custom]
    lines.append(f"  {len(custom)} resources in {len(plan.resources) - len(custom)} components")

    grouped: dict[str, Counter[str]] = defaultdict(Counter)
    for r in custom:
        grouped[_owner(r, by_urn)][r.type] += 1
    lines.append("")
    lines.append("Resources")
    for owner in sorted(grouped):
        counts = grouped[owner]
        lines.append(f"  {owner}: {sum(counts.values())}")
        for type_, count in sorted(counts.items()):
            lines.append(f"    {count:3d}  {type_}")

    lines.append("")
    lines.append("GPU pools (blue-green)")
    any_pool = False
    for key, handle in plan.platform.clusters.items():
        for slot in handle.gpu_slots:
            any_pool = True
            role = "ACTIVE " if slot.active else "standby"
            spec = slot.spec
            extras = [f"driver={spec.driver}", f"gpus={slot.sku.gpu_count}x{slot.sku.gpu.name}"]
            if spec.mig_profile:
                extras.append(f"mig={spec.mig_profile}")
            if spec.spot:
                extras.append("spot")
            if spec.snapshot_id:
                extras.append("from-snapshot")
            lines.append(
                f"  {key}/{slot.pool_name:<12} {role} {spec.vm_size:<28} {spec.min_count}-{spec.max_count} nodes  "
                + " ".join(extras)
            )
    if not any_pool:
        lines.append("  (none)")

    lines.append("")
    lines.extend(dra_summary_lines(plan.config.dra, plan.config.teams, plan.config.clusters))

    lines.append("")
    lines.extend(fleet_summary_lines(plan.config.fleet))

    lines.append("")
    lines.extend(monitoring_summary_lines(plan.config.monitoring, plan.platform.clusters))

    lines.append("")
    lines.extend(serving_summary_lines(plan.config, plan.cost))
    lines.append("")
    rehearsal = plan.rehearse()
    lines.extend(rehearsal.critical_path.summary_lines())
    lines.append("")
    lines.extend(rehearsal.summary_lines())

    lines.append("")
    lines.extend(policy_summary_lines(plan.policy_violations))
    return "\n".join(lines)


def serving_json(cfg: PlatformConfig) -> dict[str, Any]:
    """``stacks fit STACK --json``: the same numbers as the table (``cost.serving`` of the plan document)."""
    serving, _ = analyse(cfg.serving)
    return {"schema": "platform-fit/v1", "prices": serving.table.meta(), **serving.to_json()}


def serving_markdown(stack: str, cfg: PlatformConfig) -> list[str]:
    """``stacks fit STACK --markdown``: the markdown header and this stack's rows (README "Model serving")."""
    serving, _ = analyse(cfg.serving)
    return [*MARKDOWN_HEADER, *fit_markdown_rows(stack, serving)]


def serving_summary_lines(cfg: PlatformConfig, cost: dict[str, Any] | None = None) -> list[str]:
    """Model serving fit table and, in a plan, the stack's monthly cost (components/serving, pricing)."""
    serving, _ = analyse(cfg.serving)
    lines = ["Model serving (fit per GPU: weights/TP x 1.02 + 2.3 GiB + KV cache/TP)", *fit_table(serving)]
    if cost is not None:
        lines.append(
            f"  Stack cost: {cost['expectedMonthlyUsd']:,.0f} USD/month with the models running "
            f"(baseline {cost['monthlyUsd']:,.0f} at minCount, {cost['maxMonthlyUsd']:,.0f} at maxCount; "
            f"of which models {cost.get('modelsMonthlyUsd', 0):,.0f})"
        )
        if cost.get("unpriced"):
            lines.append(f"  Unpriced VM sizes: {', '.join(cost['unpriced'])} (add them under pricing.vmSizes)")
    return lines
