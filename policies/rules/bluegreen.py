"""Blue-green GPU pool invariants, read from the AgentPools' node labels and taints (components/gpu_pools.py):
every pool group has exactly one active colour with capacity, and a standby colour is tainted."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from components.facts import COLOURS, LABEL_COLOUR, LABEL_GROUP, LABEL_ROLE, STANDBY_TAINT
from policies.engine import AGENT_POOL, UNKNOWN, UNSET, Finding, Resource, Rule, RuleContext, StackView
from policies.rules._util import at, problem, unknown
from policies.rules.gpu import is_gpu_pool

ROLES = ("active", "standby")


def _labels(r: Resource) -> Any:
    return r.get("nodeLabels", {})


def labels(r: Resource, _: RuleContext) -> Iterator[Finding]:
    if not is_gpu_pool(r):
        return
    found = _labels(r)
    expected = {LABEL_GROUP: "the pool group", LABEL_COLOUR: "blue|green", LABEL_ROLE: "active|standby"}
    if found is UNKNOWN:
        yield unknown(r, "nodeLabels", f"labels {', '.join(expected)}")
        return
    allowed: dict[str, tuple[str, ...] | None] = {LABEL_GROUP: None, LABEL_COLOUR: COLOURS, LABEL_ROLE: ROLES}
    for key, values in allowed.items():
        value = found.get(key, UNSET) if isinstance(found, Mapping) else UNSET
        if value is None:
            yield unknown(r, f"nodeLabels.{key}", expected[key])
        elif value is UNSET or not value or (values is not None and value not in values):
            yield problem(
                r,
                f"nodeLabels.{key}",
                value,
                expected[key],
                "declare the pool under gpuPools.<group>.slots.<colour> (the component sets the labels)",
            )
    name = r.get("agentPoolName")
    colour = found.get(LABEL_COLOUR) if isinstance(found, Mapping) else None
    group = found.get(LABEL_GROUP) if isinstance(found, Mapping) else None
    if isinstance(name, str) and colour in COLOURS and isinstance(group, str) and name != f"{group}{colour}":
        yield problem(
            r,
            "agentPoolName",
            name,
            f"'{group}{colour}' (<group><colour>, matching its labels)",
            "let the blue-green component name the pool",
        )


def _taint_keys(r: Resource) -> Any:
    taints = r.get("nodeTaints", [])
    if taints is UNKNOWN or not isinstance(taints, list) or any(t is None for t in taints):
        return UNKNOWN
    return [str(t) for t in taints]


def standby_tainted(r: Resource, _: RuleContext) -> Iterator[Finding]:
    if not is_gpu_pool(r):
        return
    found = _labels(r)
    role = found.get(LABEL_ROLE) if isinstance(found, Mapping) else None
    if role not in ROLES:
        return  # reported by bluegreen-labels
    taints = _taint_keys(r)
    standby = STANDBY_TAINT.aks()
    if taints is UNKNOWN:
        yield unknown(r, "nodeTaints", f"{standby} exactly when slot-role is standby")
    elif role == "standby" and standby not in taints:
        yield problem(
            r,
            "nodeTaints",
            taints or UNSET,
            f"to include {standby} (standby slot)",
            "keep the slot standby through the component, which adds the taint",
        )
    elif role == "active" and any(t.split("=")[0] == STANDBY_TAINT.key for t in taints):
        yield problem(
            r,
            "nodeTaints",
            taints,
            f"no {STANDBY_TAINT.key} taint on the active slot",
            "remove the standby taint (or switch active to the other colour)",
        )


def active_slot(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    min_active = int(ctx.setting("minActiveNodes", 0))
    groups: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    for pool in stack.of_type(AGENT_POOL):
        found = _labels(pool)
        if not is_gpu_pool(pool) or not isinstance(found, Mapping) or not isinstance(found.get(LABEL_GROUP), str):
            continue
        owner = stack.cluster_of(pool)
        groups[(owner.name if owner else "", found[LABEL_GROUP])].append(pool)
    for (cluster, group), pools in sorted(groups.items()):
        where = f"GPU pool group '{group}'" + (f" of cluster '{cluster}'" if cluster else "")
        active = [p for p in pools if _labels(p).get(LABEL_ROLE) == "active"]
        if not active:
            yield Finding(
                f"{where}: no AgentPool has nodeLabels.{LABEL_ROLE}='active' (pools: "
                f"{', '.join(p.name for p in pools)}); expected exactly one active colour. Fix: keep the "
                f"active slot, or switch gpuPools.{group}.active to an existing slot before removing one",
                pools[0].urn,
            )
            continue
        if len(active) > 1:
            yield Finding(
                f"{where}: {len(active)} AgentPools are active ({', '.join(p.name for p in active)}); "
                f"expected exactly one. Fix: set gpuPools.{group}.active to one colour",
                active[1].urn,
            )
        pool = active[0]
        max_count, min_count = pool.get("maxCount"), pool.get("minCount", 0)
        if max_count is UNKNOWN or min_count is UNKNOWN:
            yield at(unknown(pool, "maxCount", "an active slot with capacity"), pool.urn)
        elif not isinstance(max_count, int) or max_count < 1:
            yield at(
                problem(
                    pool,
                    "maxCount",
                    max_count,
                    ">= 1 on the active colour (it takes all GPU work)",
                    "raise maxCount of the active slot",
                ),
                pool.urn,
            )
        elif not isinstance(min_count, int) or min_count < min_active:
            yield at(
                problem(
                    pool,
                    "minCount",
                    min_count,
                    f">= {min_active} on the active colour here",
                    f"raise minCount of the active slot to {min_active}",
                ),
                pool.urn,
            )


RULES: list[Rule] = [
    Rule(
        "bluegreen-labels",
        "GPU pools carry the blue-green labels (gpu-pool, color, slot-role) and matching names.",
        "medium",
        "mandatory",
        labels,
        types=(AGENT_POOL,),
    ),
    Rule(
        "bluegreen-standby-tainted",
        "The standby colour carries ai-platform/standby=true:NoSchedule; the active colour does not.",
        "high",
        "mandatory",
        standby_tainted,
        types=(AGENT_POOL,),
    ),
    Rule(
        "bluegreen-active-slot",
        "Every GPU pool group has exactly one active colour with capacity.",
        "critical",
        "mandatory",
        active_slot,
        scope="stack",
        settings={"minActiveNodes": {"type": "integer", "minimum": 0}},
    ),
]
