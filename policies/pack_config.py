"""Per-environment pack configuration in the ``--policy-pack-config`` format, plus a stack's own settings.

``policies/config/<environment>.json`` holds the enforcement level (and rule settings such as the GPU
size allow-list) of every rule for that environment. :func:`pack_config` adds what a stack says under
``ai-platform:policy`` (budget, waivers) and the stack's environment, so the CLI run
(``python -m stacks policy-config STACK`` writes this JSON) and the offline evaluation use one source.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from policies.engine import ENFORCEMENTS
from policies.rules import RULES_BY_ID

CONFIG_DIR = Path(__file__).resolve().parent / "config"
ENVIRONMENTS = ("dev", "staging", "prod")


class PackConfigError(ValueError):
    """A per-environment config file is missing or does not match the pack."""


def environment_config(environment: str) -> dict[str, Any]:
    path = CONFIG_DIR / f"{environment}.json"
    if environment not in ENVIRONMENTS or not path.is_file():
        raise PackConfigError(
            f"no policy configuration for environment {environment!r} (allowed: {', '.join(ENVIRONMENTS)})"
        )
    data: dict[str, Any] = json.loads(path.read_text())
    problems = check_config(data)
    if problems:
        raise PackConfigError(f"{path.name}: " + "; ".join(problems))
    return data


def check_config(data: Mapping[str, Any]) -> list[str]:
    """Problems of a pack configuration: unknown rule ids, levels, or settings the rule does not take."""
    problems = []
    for key, value in data.items():
        if key == "all":
            if value not in ENFORCEMENTS:
                problems.append(f"all: enforcement {value!r} not in {ENFORCEMENTS}")
            continue
        rule = RULES_BY_ID.get(key)
        if rule is None:
            problems.append(f"{key}: not a rule of the pack")
            continue
        level = value if isinstance(value, str) else value.get("enforcementLevel") if isinstance(value, dict) else None
        if level not in ENFORCEMENTS:
            problems.append(f"{key}: enforcement {level!r} not in {ENFORCEMENTS}")
        if isinstance(value, dict):
            extra = set(value) - {"enforcementLevel", "waivers", *rule.settings}
            if extra:
                problems.append(f"{key}: unknown settings {sorted(extra)} (allowed: {sorted(rule.settings)})")
    return problems


def pack_config(
    environment: str,
    budget_monthly_usd: float | None = None,
    waivers: Sequence[Mapping[str, Any]] = (),
    pricing: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The full ``--policy-pack-config`` JSON of a stack: environment levels + budget (+ the stack's price
    overrides, so the CLI prices like the offline plan) + waivers."""
    config: dict[str, Any] = {}
    for key, value in environment_config(environment).items():
        config[key] = {"enforcementLevel": value} if isinstance(value, str) else dict(value)
    waiver_list = [_waiver_json(w) for w in waivers]

    def entry(rule_id: str) -> dict[str, Any]:
        return config.setdefault(rule_id, {"enforcementLevel": RULES_BY_ID[rule_id].enforcement})

    if budget_monthly_usd is not None:
        entry("gpu-budget")["budgetMonthlyUsd"] = float(budget_monthly_usd)
    if pricing:
        entry("gpu-budget")["pricing"] = dict(pricing)
    entry("tags-environment-match")["environment"] = environment
    entry("waiver-valid")["allWaivers"] = waiver_list
    for waiver in waiver_list:
        if waiver["rule"] in RULES_BY_ID:
            entry(waiver["rule"]).setdefault("waivers", []).append(
                {k: waiver[k] for k in ("resource", "reason", "expires")}
            )
    return config


def _waiver_json(raw: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(raw.get(k, "")) for k in ("rule", "resource", "reason", "expires")}


def settings_schema(rule_id: str) -> dict[str, Any]:
    """JSON-schema properties a rule's configuration takes (its settings and its waivers)."""
    waiver = {
        "type": "object",
        "properties": {k: {"type": "string"} for k in ("resource", "reason", "expires")},
        "required": ["resource", "reason", "expires"],
    }
    return {**RULES_BY_ID[rule_id].settings, "waivers": {"type": "array", "items": waiver}}
