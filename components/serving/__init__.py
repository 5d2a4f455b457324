"""Model serving for teams: a model catalog, GPU-memory fit, placement on shared GPUs, cost, vLLM workloads.

An ML team adds ``models.<name>`` to a stack file (which model, which precision, how many replicas); the
fit analysis (:mod:`components.serving.fit`) picks the cheapest GPU pool and sharing profile it fits, or
fails configuration with the numbers; :mod:`components.serving.workload` deploys it with vLLM and GPUs
claimed through DRA; :func:`stack_cost` adds per-deployment cost lines to the plan's cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from components.pricing import estimate_cost, price_table
from components.serving.fit import Fit, ServingPlan, analyse, estimate
from components.serving.spec import VLLM_IMAGE, ModelDeploymentSpec, catalog
from components.serving.workload import ModelServing, ModelServingArgs, manifests

__all__ = [
    "VLLM_IMAGE",
    "Fit",
    "ModelDeploymentSpec",
    "ModelServing",
    "ModelServingArgs",
    "ServingPlan",
    "analyse",
    "catalog",
    "estimate",
    "manifests",
    "stack_cost",
]


def stack_cost(cfg: Any, resources: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The plan's ``cost``: node pools and tiers from the plan resources plus one line per model deployment."""
    table = price_table(getattr(cfg, "pricing", None))
    cost = estimate_cost(resources, table)
    serving, _ = analyse(cfg, table)
    cost["models"] = serving.cost_lines()
    cost["modelsMonthlyUsd"] = round(sum(line["monthlyUsd"] or 0.0 for line in cost["models"]), 2)
    cost["serving"] = serving.to_json()
    return cost
