"""Model serving for teams: a model catalog, GPU-memory fit, placement on shared GPUs, cost, vLLM workloads.

An ML team adds ``models.<name>`` to a stack file (which model, which precision, how many replicas); the
fit analysis (:mod:`components.serving.fit`) lists the GPU pools and sharing profiles it fits, or fails
configuration with the numbers, and packs the stack's models onto the fewest GPUs, then the lowest cost
(:mod:`components.serving.packing`); :mod:`components.serving.throughput` gives each placement's KV-cache
capacity, decode rate and USD per million tokens; :mod:`components.serving.importer` writes catalog entries
from a Hugging Face config.json; :mod:`components.serving.workload` deploys it with vLLM and GPUs
claimed through DRA, or through the runtime a model names (``runtime: kaito | kuberay``:
:mod:`components.serving.runtimes`, placed by :mod:`components.serving.runtime_fit`); :func:`stack_cost`
adds per-deployment cost lines to the plan's cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from components.gpu_pools import pool_name
from components.pricing import estimate_cost, price_table
from components.serving import runtime_fit  # registers the kaito and kuberay fit candidates
from components.serving.fit import Fit, ServingInputs, ServingPlan, analyse, estimate
from components.serving.spec import VLLM_IMAGE, ModelDeploymentSpec, catalog
from components.serving.workload import ModelServing, ModelServingArgs, manifests

__all__ = [
    "VLLM_IMAGE",
    "Fit",
    "ModelDeploymentSpec",
    "ModelServing",
    "ModelServingArgs",
    "ServingInputs",
    "ServingPlan",
    "analyse",
    "catalog",
    "estimate",
    "manifests",
    "runtime_fit",
    "stack_cost",
    "uses_kaito",
]


def uses_kaito(cfg: ServingInputs, cluster: str) -> bool:
    """Whether a model on ``cluster`` runs on KAITO (the cluster then needs the AI toolchain operator add-on)."""
    return any(m.cluster == cluster and m.runtime == "kaito" for m in cfg.models.values())


def stack_cost(cfg: ServingInputs, resources: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The plan's ``cost``: node pools and tiers from the plan resources plus one line per model deployment.

    ``expectedMonthlyUsd`` runs every pool at the larger of its ``minCount`` and the nodes its model
    deployments need (the autoscaler adds those nodes as soon as the models are deployed), so the stack total
    never reads less than the models it runs; ``monthlyUsd`` (every pool at ``minCount``) and
    ``maxMonthlyUsd`` (every pool at ``maxCount``) bound it.
    """
    table = price_table(cfg.pricing)
    cost = estimate_cost(resources, table)
    serving, _ = analyse(cfg, table)
    needed: dict[tuple[str, str], int] = {}
    for placement in serving.placements:
        group = cfg.clusters[placement.cluster].gpu_pools[placement.pool_group]
        key = (f"{placement.cluster}-aks", pool_name(group.pool_id(placement.pool_group), group.active))
        needed[key] = needed.get(key, 0) + placement.nodes
    for item in cost["items"]:
        nodes = item.get("minCount", 0)
        if item["kind"] == "nodePool":
            nodes = min(max(nodes, needed.get((item["cluster"], item["pool"]), 0)), item["maxCount"])
            item["expectedNodes"] = nodes
            item["expectedMonthlyUsd"] = round((item["hourlyUsd"] or 0.0) * nodes * table.hours_per_month, 2)
        else:
            item["expectedMonthlyUsd"] = item["baselineMonthlyUsd"]
    cost["expectedMonthlyUsd"] = round(sum(i["expectedMonthlyUsd"] for i in cost["items"]), 2)
    cost["models"] = serving.cost_lines()
    cost["modelsMonthlyUsd"] = round(sum(line["monthlyUsd"] or 0.0 for line in cost["models"]), 2)
    cost["serving"] = serving.to_json()
    return cost
