"""Evaluate the pack on a plan document (``platform-plan/v1``): the offline plan and ``stacks check``.

Policies read only what the plan holds: resources (type, inputs, options), the environment, the stack's
``policy`` object (budget, waivers) and the ``cost`` section. So a reviewer can edit a plan by hand and
check a what-if.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from policies.engine import Violation, evaluate, resources_from_plan
from policies.pack_config import ENVIRONMENTS, pack_config
from policies.rules import RULES

SCHEMA = "platform-plan/v1"


MAX_DEPTH = 64
"""Deepest nesting of objects and arrays a plan may have (the program writes far less than this)."""


def too_deep(document: Any, limit: int = MAX_DEPTH) -> str | None:
    """The dotted path where ``document`` nests deeper than ``limit`` (None when it does not); iterative."""
    pending: list[tuple[Any, str, int]] = [(document, "", 0)]
    while pending:
        value, path, depth = pending.pop()
        if depth > limit:
            return path or "(root)"
        if isinstance(value, Mapping):
            pending.extend((v, f"{path}.{k}" if path else str(k), depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            pending.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value))
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _got(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


WAIVER_FIELDS = ("rule", "resource", "reason", "expires")


def _waiver_problems(waivers: Any) -> list[str]:
    if waivers is None:
        return []
    if not isinstance(waivers, list):
        return [f"policy.waivers: not a list (got {_got(waivers)}; expected a list of waiver objects)"]
    problems = []
    for index, waiver in enumerate(waivers):
        where = f"policy.waivers[{index}]"
        if not isinstance(waiver, Mapping):
            problems.append(f"{where}: not an object (got {_got(waiver)}; expected {{{', '.join(WAIVER_FIELDS)}}})")
            continue
        for key in WAIVER_FIELDS:
            if key not in waiver:
                problems.append(f"{where}.{key}: missing (expected a string)")
            elif not isinstance(waiver[key], str):
                problems.append(f"{where}.{key}: not a string (got {_got(waiver[key])})")
        expires = waiver.get("expires")
        if isinstance(expires, str):
            try:
                dt.date.fromisoformat(expires)
            except ValueError:
                problems.append(f"{where}.expires: not a date (got {_got(expires)}; expected YYYY-MM-DD)")
    return problems


COST_NUMBERS = ("baselineMonthlyUsd", "maxMonthlyUsd", "expectedMonthlyUsd", "hourlyUsd")


def _cost_problems(cost: Any) -> list[str]:
    if cost is None:
        return []
    if not isinstance(cost, Mapping):
        return [f"cost: not an object (got {_got(cost)})"]
    items = cost.get("items")
    if items is None:
        return []
    if not isinstance(items, list):
        return [f"cost.items: not a list (got {_got(items)}; expected a list of cost objects)"]
    problems = []
    for index, item in enumerate(items):
        where = f"cost.items[{index}]"
        if not isinstance(item, Mapping):
            problems.append(f"{where}: not an object (got {_got(item)})")
            continue
        if not isinstance(item.get("kind"), str):
            problems.append(f"{where}.kind: missing or not a string (got {_got(item.get('kind'))})")
        if "vmSize" in item and not isinstance(item["vmSize"], str):
            problems.append(f"{where}.vmSize: not a string (got {_got(item['vmSize'])})")
        if "priced" in item and not isinstance(item["priced"], bool):
            problems.append(f"{where}.priced: not a boolean (got {_got(item['priced'])})")
        for key in COST_NUMBERS:
            if item.get(key) is not None and not _is_number(item[key]):
                problems.append(f"{where}.{key}: not a number (got {_got(item[key])})")
    return problems


def _resource_problems(index: int, resource: Any) -> list[str]:
    where = f"resources[{index}]"
    if not isinstance(resource, Mapping):
        return [f"{where}: not an object (got {_got(resource)})"]
    problems = []
    for key in ("urn", "type", "name"):
        if not isinstance(resource.get(key), str):
            problems.append(f"{where}.{key}: missing or not a string (got {_got(resource.get(key))})")
    if not isinstance(resource.get("inputs"), Mapping):
        problems.append(f"{where}.inputs: missing or not an object (got {_got(resource.get('inputs'))})")
    for key in ("parent", "provider"):
        if resource.get(key) is not None and not isinstance(resource[key], str):
            problems.append(f"{where}.{key}: not a string (got {_got(resource[key])})")
    deps = resource.get("dependencies")
    if deps is not None and not (isinstance(deps, list) and all(isinstance(d, str) for d in deps)):
        problems.append(f"{where}.dependencies: not a list of URN strings (got {_got(deps)})")
    return problems


def plan_problems(document: Any) -> list[str]:
    """Why ``document`` is not a plan this tool can judge (empty when it is), one ``<key>: <problem>`` each."""
    if not isinstance(document, Mapping):
        return [f"(root): not a JSON object (got {type(document).__name__})"]
    deep = too_deep(document)
    if deep is not None:
        return [f"{deep}: nested deeper than {MAX_DEPTH} levels; expected a plan written by `stacks plan --json`"]
    problems = []
    if document.get("schema") != SCHEMA:
        problems.append(f"schema: is {document.get('schema')!r}; expected {SCHEMA!r}")
    if document.get("environment") not in ENVIRONMENTS:
        problems.append(
            f"environment: is {_got(document.get('environment'))}; expected one of {', '.join(ENVIRONMENTS)}"
        )
    resources = document.get("resources")
    if not isinstance(resources, list):
        problems.append(f"resources: missing or not a list (got {_got(resources)})")
    else:
        for index, resource in enumerate(resources):
            problems.extend(_resource_problems(index, resource))
    policy = document.get("policy")
    if policy is not None and not isinstance(policy, Mapping):
        problems.append(f"policy: not an object (got {_got(policy)})")
    elif policy is not None:
        budget = policy.get("budgetMonthlyUsd")
        if budget is not None and not _is_number(budget):
            problems.append(f"policy.budgetMonthlyUsd: not a number (got {_got(budget)})")
        problems.extend(_waiver_problems(policy.get("waivers")))
    problems.extend(_cost_problems(document.get("cost")))
    return problems


def evaluate_plan(document: Mapping[str, Any], today: dt.date | None = None) -> list[Violation]:
    policy = document.get("policy") or {}
    config = pack_config(str(document["environment"]), policy.get("budgetMonthlyUsd"), policy.get("waivers") or [])
    cost = document.get("cost") if isinstance(document.get("cost"), Mapping) else None
    return evaluate(RULES, resources_from_plan(document), config, cost, today)


def summary_lines(violations: list[dict[str, Any]]) -> list[str]:
    """The plan summary's policy section: counts, then one line per violation (mandatory first)."""
    mandatory = [v for v in violations if v.get("enforcement") == "mandatory"]
    advisory = [v for v in violations if v.get("enforcement") != "mandatory"]
    lines = [f"Policy ({len(mandatory)} mandatory, {len(advisory)} advisory violations)"]
    if not violations:
        lines.append("  all rules pass")
    lines.extend(f"  [{v['enforcement']}] {v['policy']}: {v['message']}" for v in mandatory + advisory)
    return lines
