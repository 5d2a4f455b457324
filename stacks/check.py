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


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (expected a finite number)")


def read_plan(path: str) -> Any:
    """The JSON document at ``path``; :class:`PlanFileError` with one line when it is not valid JSON."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except IsADirectoryError:
        raise PlanFileError(f"{path}: (file): is a directory; expected a plan file from `stacks plan --json`") from None
    except FileNotFoundError:
        raise PlanFileError(f"{path}: (file): not found; expected a plan file from `stacks plan --json`") from None
    except OSError as exc:
        raise PlanFileError(f"{path}: (file): cannot be read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanFileError(f"{path}: (encoding): not UTF-8 (byte {exc.start}); expected a UTF-8 JSON plan") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{path}: (syntax): not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except ValueError as exc:
        raise PlanFileError(f"{path}: (syntax): {exc}") from None
    except RecursionError:
        raise PlanFileError(
            f"{path}: (root): nested too deep to read; expected a plan from `stacks plan --json`"
        ) from None


class PlanFileError(Exception):
    """The plan file cannot be read as JSON: one line, file first."""


def check(path: str) -> int:
    try:
        document = read_plan(path)
    except PlanFileError as exc:
        print(str(exc).replace("\n", " "), file=sys.stderr)
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
