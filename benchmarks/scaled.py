"""A plan document scaled up for the policy-evaluation benchmark (``bench.py --check-scale``) and its test.

Owned by the benchmark; ``tests/test_bad_plan_input.py`` imports it to check that scaling changes speed only.
"""

from __future__ import annotations

import copy
from typing import Any

from components.gpu_pools import LABEL_GROUP


def scaled_plan(document: dict[str, Any], copies: int) -> dict[str, Any]:
    """``document`` with every AgentPool copied ``copies`` times (distinct urns, names and blue/green groups,
    so a copy is a new group of the same cluster, not a second active slot), cost as is."""
    scaled = copy.deepcopy(document)
    pools = [r for r in document["resources"] if r["type"] == "azure-native:containerservice:AgentPool"]
    for n in range(copies):
        for pool in pools:
            clone = copy.deepcopy(pool)
            clone["urn"] = f"{pool['urn']}-copy{n}"
            clone["name"] = f"{pool['name']}-copy{n}"
            labels = clone["inputs"].get("nodeLabels")
            if isinstance(labels, dict) and isinstance(labels.get(LABEL_GROUP), str):
                group = labels[LABEL_GROUP]
                labels[LABEL_GROUP] = f"{group}c{n}"
                name = clone["inputs"].get("agentPoolName")
                if isinstance(name, str) and name.startswith(group):
                    clone["inputs"]["agentPoolName"] = f"{group}c{n}{name[len(group) :]}"
            scaled["resources"].append(clone)
    return scaled
