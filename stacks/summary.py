"""Human-readable summary of an offline plan: what would be created, per cluster and component."""

from __future__ import annotations

from collections import Counter, defaultdict

from stacks.plan import Plan, Registration


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
    return "\n".join(lines)
