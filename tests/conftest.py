"""Shared fixtures: every shipped stack is planned once per test session (the mock runtime is slow per
resource, so whole-stack plans are never rebuilt per test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stacks.plan import Plan, run_plan

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_STACKS = sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml"))


@pytest.fixture(scope="session")
def plans() -> dict[str, Plan]:
    return {stack: run_plan(stack) for stack in SHIPPED_STACKS}


@pytest.fixture(scope="session")
def plan_documents(plans: dict[str, Plan]) -> dict[str, dict[str, Any]]:
    return {stack: plan.to_json() for stack, plan in plans.items()}
