"""``python -m stacks check PLAN.json`` and ``python -m stacks policy-config STACK`` (wired in stacks/__main__).

``check`` exits 0 when no mandatory rule fails, 1 when one does, 2 when the file is not a valid plan.
``policy-config`` prints the ``--policy-pack-config`` JSON of a stack for CLI runs of the pack.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from components._common import ConfigError
from policies.offline import evaluate_plan, plan_problems, summary_lines
from policies.pack_config import PackConfigError, pack_config
from stacks.config import load_config
from stacks.plan import read_stack_file


def check(path: str) -> int:
    file = Path(path)
    try:
        document: Any = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"{path}: not a readable JSON plan: {exc}", file=sys.stderr)
        return 2
    problems = plan_problems(document)
    if problems:
        print("\n".join(f"{path}: {p}" for p in problems), file=sys.stderr)
        return 2
    try:
        violations = [v.to_json() for v in evaluate_plan(document)]
    except (PackConfigError, ValueError, TypeError) as exc:
        print(f"{path}: cannot evaluate: {exc}", file=sys.stderr)
        return 2
    print(f"Policy check of {path}: stack {document.get('stack')} ({document['environment']})")
    print("\n".join(summary_lines(violations)))
    return 1 if any(v["enforcement"] == "mandatory" for v in violations) else 0


def policy_config(stack: str, config_file: str | None = None) -> int:
    try:
        stack_file = read_stack_file(stack, config_file)
        cfg = load_config(stack_file.config_map, stack_file.source)
    except ConfigError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        return 2
    pricing = cfg.pricing.model_dump(by_alias=True, exclude_defaults=True)
    waivers = [w.to_json() for w in cfg.policy.waivers]
    document = pack_config(cfg.environment, cfg.policy.budget_monthly_usd, waivers, pricing)
    print(json.dumps(document, indent=2))
    return 0
