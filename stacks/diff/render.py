"""The diff as text (stdout), as a pull-request comment (``--markdown``) and as ``platform-diff/v1`` (``--json``)."""

from __future__ import annotations

import json
from typing import Any

from stacks.diff import SCHEMA, Diff
from stacks.diff.compare import Step, shown
from stacks.diff.triggers import TRIGGERS

MARKER = "<!-- ai-platform stacks diff -->"
"""Hidden first line of the comment: the workflow finds its own comment by it and updates it."""
SYMBOL = {"create": "+", "update": "~", "replace": "+-", "refuse": "!", "delete": "-", "same": " "}
MAX_VALUE = 80


def _value(value: Any) -> str:
    text = json.dumps(shown(value), sort_keys=True) if not isinstance(value, str) else value
    if value is None:
        text = "(unset)"
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."


def _usd(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    text = f"{abs(value):,.0f}"
    if signed:
        return f"{'+' if value >= 0 else '-'}{text}"
    return text


def summary_line(result: Diff) -> str:
    counts = result.counts()
    cost = result.cost()
    violations = len(result.head_policy or [])
    parts = [
        f"{counts['create']} to create",
        f"{counts['update']} to update",
        f"{counts['replace']} to replace",
        f"{counts['delete']} to delete",
    ]
    if counts["refuse"]:
        parts.append(f"{counts['refuse']} refused")
    parts.append(f"{_usd(cost['deltaMonthlyUsd'], signed=True)} USD/month")
    parts.append(f"{violations} policy violation{'s' if violations != 1 else ''}")
    verdict = "UNSAFE" if result.exit_code() else "safe"
    return f"{', '.join(parts)}: {verdict}"


def _change_lines(step: Step) -> list[str]:
    lines = []
    for change in step.changes:
        old, new = change.shown()
        why = f"  [{change.trigger.action}: {change.trigger.why}]" if change.trigger is not None else ""
        lines.append(f"{change.path}: {_value(old)} -> {_value(new)}{why}")
    if step.op == "delete" and step.base is not None:
        if step.base.retain_on_delete:
            lines.append("retainOnDelete: Pulumi forgets it, the object stays")
        if step.base.protect:
            lines.append("protect: Pulumi refuses to delete it")
    if step.op == "replace" and step.head is not None:
        lines.append("order: " + ("delete, then create" if step.head.delete_before_replace else "create, then delete"))
    return lines


def _changed(result: Diff) -> list[Step]:
    return [s for s in result.steps if s.op != "same"]


def render_text(result: Diff) -> str:
    out = [
        f"Diff of stack {result.head.stack}: BASE {result.base.label} -> HEAD {result.head.label}",
        f"  {summary_line(result)}",
    ]
    cost = result.cost()
    out.append(
        f"  cost ({cost['basis']}): {_usd(cost['baseMonthlyUsd'])} -> {_usd(cost['headMonthlyUsd'])} USD/month "
        f"({_usd(cost['deltaMonthlyUsd'], signed=True)})"
    )
    for cluster in sorted({s.cluster for s in _changed(result)}):
        out.append("")
        out.append(f"{cluster}:")
        for step in (s for s in _changed(result) if s.cluster == cluster):
            out.append(f"  {SYMBOL[step.op]:<2} {step.op:<7} {step.component:<18} {step.name}  ({step.type})")
            out.extend(f"            {line}" for line in _change_lines(step))
    out.append("")
    out.append(f"  {result.counts()['same']} unchanged")
    out.extend(_policy_lines(result))
    out.append("")
    if result.findings:
        out.append("Transitions (judged against BASE)")
        for f in result.findings:
            out.append(f"  [{f.severity}] {f.rule}: {f.name}: {f.message}. Fix: {f.fix}")
    else:
        out.append("Transitions (judged against BASE): safe")
    return "\n".join(out)


def _policy_lines(result: Diff) -> list[str]:
    lines = [
        f"Policy: {len(result.head_policy or [])} violations in HEAD ({len(result.mandatory())} mandatory); "
        f"{len(result.policy_added)} new, {len(result.policy_resolved)} resolved"
    ]
    lines.extend(f"  + [{v.get('enforcement')}] {v.get('policy')}: {v.get('message')}" for v in result.policy_added)
    lines.extend(f"  - [{v.get('enforcement')}] {v.get('policy')}: {v.get('message')}" for v in result.policy_resolved)
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(result: Diff) -> str:
    """A pull-request comment: the hidden marker, one summary line, then a collapsible table per cluster."""
    out = [MARKER, f"**`stacks diff` {result.head.stack}**: {summary_line(result)}", ""]
    out.append(f"BASE `{result.base.label}` -> HEAD `{result.head.label}`")
    out.append("")
    if result.findings:
        out.append("| rule | resource | what happens | fix |")
        out.append("| --- | --- | --- | --- |")
        out.extend(f"| :x: `{f.rule}` | `{f.name}` | {_cell(f.message)} | {_cell(f.fix)} |" for f in result.findings)
        out.append("")
    for cluster in sorted({s.cluster for s in _changed(result)}):
        steps = [s for s in _changed(result) if s.cluster == cluster]
        counts = ", ".join(
            f"{sum(1 for s in steps if s.op == op)} {op}"
            for op in ("create", "update", "replace", "refuse", "delete")
            if any(s.op == op for s in steps)
        )
        out.append(f"<details><summary><b>{cluster}</b>: {counts}</summary>")
        out.append("")
        out.append("| op | component | resource | changes |")
        out.append("| --- | --- | --- | --- |")
        for step in steps:
            detail = "<br>".join(_cell(f"`{line}`") for line in _change_lines(step)) or ""
            out.append(f"| {step.op} | {step.component} | `{step.name}` | {detail} |")
        out.append("")
        out.append("</details>")
        out.append("")
    out.append(f"{result.counts()['same']} resources unchanged.")
    out.append("")
    out.extend(_policy_lines(result))
    return "\n".join(out) + "\n"


def to_json(result: Diff) -> dict[str, Any]:
    """``platform-diff/v1``: stable keys, steps sorted by URN (documented in docs/diff.md)."""
    return {
        "schema": SCHEMA,
        "stack": result.head.stack,
        "project": result.head.project,
        "base": result.base.describe(),
        "head": result.head.describe(),
        "summary": {**result.counts(), "line": summary_line(result)},
        "steps": [s.to_json() for s in result.steps if s.op != "same"],
        "unchanged": result.counts()["same"],
        "cost": result.cost(),
        "policy": {
            "headViolations": result.head_policy,
            "added": result.policy_added,
            "resolved": result.policy_resolved,
            "mandatory": len(result.mandatory()),
        },
        "findings": [f.to_json() for f in result.findings],
        "safe": result.exit_code() == 0,
        "exitCode": result.exit_code(),
        "triggerTable": len(TRIGGERS),
    }
