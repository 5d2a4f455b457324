"""``python -m stacks diff BASE HEAD``: what a change does to a stack, judged without any cloud credentials.

BASE and HEAD are plan documents, stack exports or a stack planned at a git ref (``sides.py``); ``compare.py`` lists
what HEAD does to each resource, with the replace triggers of ``triggers.py``; ``rules.py`` judges the transition
against BASE; ``render.py`` writes the summary, the pull-request comment (``--markdown``) and the
``platform-diff/v1`` document (``--json``). Exit 0 safe, 1 an unsafe transition or a mandatory policy in HEAD,
2 bad input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stacks.diff.compare import OPS, Step, compare
from stacks.diff.rules import Finding, judge
from stacks.diff.sides import Side

SCHEMA = "platform-diff/v1"


@dataclass
class Diff:
    base: Side
    head: Side
    steps: list[Step]
    findings: list[Finding]
    policy_added: list[dict[str, Any]]
    policy_resolved: list[dict[str, Any]]
    head_policy: list[dict[str, Any]] | None

    def counts(self) -> dict[str, int]:
        return {op: sum(1 for s in self.steps if s.op == op) for op in OPS}

    def cost(self) -> dict[str, Any]:
        """Monthly cost of each side and the delta (pools at the autoscaler's expected count when both plans
        carry it, else every pool at minCount)."""
        use_expected = self.base.expected_monthly_usd is not None and self.head.expected_monthly_usd is not None
        old = self.base.expected_monthly_usd if use_expected else self.base.monthly_usd
        new = self.head.expected_monthly_usd if use_expected else self.head.monthly_usd
        delta = round(new - old, 2) if old is not None and new is not None else None
        return {
            "basis": "expected" if use_expected else "minCount",
            "baseMonthlyUsd": old,
            "headMonthlyUsd": new,
            "deltaMonthlyUsd": delta,
        }

    def mandatory(self) -> list[dict[str, Any]]:
        return [v for v in self.head_policy or [] if v.get("enforcement") == "mandatory"]

    def exit_code(self) -> int:
        return 1 if any(f.severity == "unsafe" for f in self.findings) or self.mandatory() else 0


def _key(violation: dict[str, Any]) -> tuple[str, str, str]:
    return (str(violation.get("policy")), str(violation.get("urn")), str(violation.get("message")))


def _plan_shaped(side: Side) -> list[dict[str, Any]]:
    return [
        {
            "urn": r.urn,
            "type": r.type,
            "name": r.name,
            "inputs": r.inputs,
            "protect": r.protect,
            "parent": r.parent,
            "dependencies": r.dependencies,
            "custom": r.custom,
        }
        for r in side.resources.values()
    ]


def policy_of(side: Side, other: Side) -> list[dict[str, Any]] | None:
    """A side's policy verdicts: a plan's own, or the pack run over a stack export's deployed inputs (with the
    other side's environment, budget and waivers, since a state file carries none)."""
    if side.policy_violations is not None:
        return side.policy_violations
    if other.environment is None:
        return None
    from policies.offline import evaluate_plan  # noqa: PLC0415

    resources = _plan_shaped(side)
    cost = side.cost or {}
    document = {"environment": other.environment, "policy": other.policy or {}, "resources": resources, "cost": cost}
    return [v.to_json() for v in evaluate_plan(document)]


def price_export(side: Side) -> None:
    """A stack export's monthly cost from its deployed pools (shipped prices, every pool at minCount)."""
    if side.kind != "export":
        return
    from components.pricing import estimate_cost  # noqa: PLC0415

    cost = estimate_cost(_plan_shaped(side))
    side.cost = cost
    side.monthly_usd = cost["monthlyUsd"]
    side.max_monthly_usd = cost["maxMonthlyUsd"]


def diff(base: Side, head: Side) -> Diff:
    price_export(base)
    price_export(head)
    steps = compare(base, head)
    findings = judge(base, head, steps)
    base_policy = policy_of(base, head) or []
    head_policy = policy_of(head, base)
    old = {_key(v) for v in base_policy}
    new = {_key(v) for v in head_policy or []}
    return Diff(
        base,
        head,
        steps,
        findings,
        policy_added=[v for v in head_policy or [] if _key(v) not in old],
        policy_resolved=[v for v in base_policy if _key(v) not in new],
        head_policy=head_policy,
    )
