"""Every rule of the pack, in one registry: ``RULES`` (ordered) and ``RULES_BY_ID``."""

from __future__ import annotations

from policies.engine import Rule
from policies.rules import bluegreen, cluster, gpu, network, platform, storage

_BASE: list[Rule] = [*cluster.RULES, *gpu.RULES, *bluegreen.RULES, *platform.RULES, *network.RULES, *storage.RULES]
RULES: list[Rule] = [*_BASE, platform.make_waiver_rule([r.id for r in _BASE] + ["waiver-valid"])]
RULES_BY_ID: dict[str, Rule] = {r.id: r for r in RULES}

assert len(RULES_BY_ID) == len(RULES), "rule ids must be unique"
