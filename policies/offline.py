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


def plan_problems(document: Any) -> list[str]:
    """Why ``document`` is not a plan this tool can judge (empty when it is)."""
    if not isinstance(document, Mapping):
        return ["the document is not a JSON object"]
    problems = []
    if document.get("schema") != SCHEMA:
        problems.append(f"schema is {document.get('schema')!r}; expected {SCHEMA!r}")
    if document.get("environment") not in ENVIRONMENTS:
        problems.append(f"environment is {document.get('environment')!r}; expected one of {', '.join(ENVIRONMENTS)}")
    resources = document.get("resources")
    if not isinstance(resources, list):
        problems.append("resources is missing or not a list")
    else:
        for index, resource in enumerate(resources):
            if not isinstance(resource, Mapping) or not all(
                isinstance(resource.get(k), str) for k in ("urn", "type", "name")
            ):
                problems.append(f"resources[{index}] needs string urn, type and name")
            elif resource.get("inputs") is not None and not isinstance(resource.get("inputs"), Mapping):
                problems.append(f"resources[{index}].inputs is not an object")
    policy = document.get("policy", {})
    if policy is not None and not isinstance(policy, Mapping):
        problems.append("policy is not an object")
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
