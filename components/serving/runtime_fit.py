"""Where the ``kaito`` and ``kuberay`` runtimes can run: their fit candidates, registered with the fit analysis.

:func:`components.serving.fit.candidates` evaluates the DRA sharing offers one node at a time (runtime vllm).
The other runtimes place differently, and this module gives :data:`components.serving.fit.CANDIDATE_FINDERS` one
finder each (the hook fit.py calls; importing :mod:`components.serving` registers them):

- ``kaito``: whole nodes of a pool group with ``allocation: devicePlugin`` (KAITO requests ``nvidia.com/gpu``,
  every GPU of the node, and has no DRA support): TP = the node's GPUs, one replica per node; the KAITO preset's
  own GPU needs (its webhook) must hold for the VM size; the pool's ``minCount`` must keep the replicas' nodes up,
  because KAITO provisions its own nodes (a new agent pool outside Pulumi) for any shortfall; no spot pools (KAITO's
  pods do not tolerate the spot taint). Rollouts surge by 0 (KAITO's Deployment: maxSurge 0, maxUnavailable 1).
- ``kuberay``: whole-GPU DRA offers of one pool group, across its nodes: TP = the GPUs of one node (all of them,
  dividing the attention heads), PP = nodes per replica, the fewest nodes that hold the model (:func:`stages`),
  at most the pool's ``maxCount``. Pipeline stages exchange activations only (not tensor shards), which is why the
  tensor split stays inside a node and the pipeline split crosses nodes. A RayService upgrade (``NewCluster``)
  brings up a whole second RayCluster before the old one goes: the rollout surge is every replica.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from components.dra import SharingOffer
from components.gpu_pools import gpu_slots
from components.pricing import PriceTable
from components.serving import fit
from components.serving.fit import AMPERE, COMPUTE_CAPABILITY, Candidate, Estimate, estimate
from components.serving.runtimes import kaito
from components.serving.spec import ModelDeploymentSpec

DEVICE_PLUGIN_PROFILE = "device-plugin"
"""What the fit table shows as the profile of a KAITO placement (``nvidia.com/gpu`` extended resources)."""


def _capability_reason(spec: ModelDeploymentSpec, gpu: str) -> str:
    capability = COMPUTE_CAPABILITY.get(gpu, 0.0)
    if spec.effective_precision == "fp8" and capability < AMPERE:
        return f"fp8 needs compute capability >= {AMPERE} ({gpu} has {capability})"
    if spec.kv_cache_dtype == "fp8" and capability < AMPERE:
        return f"an fp8 KV cache needs compute capability >= {AMPERE} ({gpu} has {capability})"
    return ""


def kaito_candidates(
    spec: ModelDeploymentSpec,
    cluster: Any,
    offers: Sequence[SharingOffer],
    table: PriceTable,
    allowed: set[str] | None = None,
) -> list[Candidate]:
    """Each device-plugin pool group's active colour, one whole node per replica."""
    arch = spec.arch
    assert arch is not None, "validated by ModelDeploymentSpec"
    found: list[Candidate] = []
    for group, pool in sorted(cluster.gpu_pools.items()):
        if spec.pool and group != spec.pool:
            continue
        slot = next(s for s in gpu_slots(group, pool) if s.active)
        sku = slot.sku
        tp = sku.gpu_count
        hourly, _ = table.hourly(sku.vm_size, cluster.location)
        best = estimate(arch, spec.effective_precision, spec.context_length, spec.concurrency, tp, spec.kv_cache_dtype)
        reason = ""
        if pool.allocation != "devicePlugin":
            reason = (
                "a DRA pool: KAITO requests nvidia.com/gpu from the device plugin (no DRA support in KAITO "
                f"{kaito.KAITO_VERSION}); use a pool group with allocation: devicePlugin"
            )
        elif sku.gpu.vendor != "nvidia":
            reason = "KAITO workspaces do not support AMD GPU VM sizes"
        elif slot.spec.spot:
            reason = "spot pool: KAITO's pods do not tolerate the spot taint"
        elif arch.attention_heads % tp:
            reason = f"KAITO runs TP = the node's {tp} GPUs, which does not divide {arch.attention_heads} heads"
        else:
            reason = kaito.preset_issue(spec.model or "", sku.vm_size) or _capability_reason(spec, sku.gpu.name)
        if not reason and slot.spec.min_count < spec.replicas:
            reason = (
                f"minCount {slot.spec.min_count} < {spec.replicas} replicas: KAITO would provision the missing nodes "
                "itself (a new agent pool outside Pulumi); keep minCount >= replicas"
            )
        fits = best.total_gib <= sku.gpu.memory_gib * spec.gpu_memory_utilization
        if not fits and not reason:
            reason = "does not fit"
        found.append(
            Candidate(
                group,
                DEVICE_PLUGIN_PROFILE,
                "devicePlugin",
                "nvidia.com/gpu",
                True,
                slot,
                sku.gpu.memory_gib,
                1,
                spec.gpu_memory_utilization,
                best,
                fits and not reason,
                reason,
                hourly,
                hourly_usd_per_vm=hourly,
                surge=0,
                runtime="kaito",
            )
        )
    return found


def stages(total_gib_at: Callable[[int], Estimate], tp: int, budget_gib: float, max_nodes: int) -> int | None:
    """The fewest pipeline stages (nodes of ``tp`` GPUs) whose per-GPU memory fits ``budget_gib``; None if none
    up to ``max_nodes`` does. ``total_gib_at(n)`` is the per-GPU estimate over ``n`` GPUs in all."""
    for pp in range(1, max_nodes + 1):
        if total_gib_at(tp * pp).total_gib <= budget_gib:
            return pp
    return None


def kuberay_candidates(
    spec: ModelDeploymentSpec,
    cluster: Any,
    offers: Sequence[SharingOffer],
    table: PriceTable,
    allowed: set[str] | None = None,
) -> list[Candidate]:
    """Whole-GPU offers across the nodes of one pool group: TP per node, PP = nodes."""
    arch = spec.arch
    assert arch is not None, "validated by ModelDeploymentSpec"
    found: list[Candidate] = []
    for offer in offers:
        if offer.pool_group not in cluster.gpu_pools:
            continue
        if (spec.pool and offer.pool_group != spec.pool) or (spec.profile and offer.profile != spec.profile):
            continue
        slot = next(s for s in gpu_slots(offer.pool_group, cluster.gpu_pools[offer.pool_group]) if s.active)
        sku = slot.sku
        hourly, _ = table.hourly(sku.vm_size, cluster.location)
        tps = [t for t in fit.TP_SIZES if t <= sku.gpu_count and arch.attention_heads % t == 0]
        tp = max(tps) if tps else 1
        budget = offer.memory_gib * spec.gpu_memory_utilization
        reason = ""
        if allowed is not None and offer.profile not in allowed:
            reason = f"team {spec.team} may not claim this profile (teams.{spec.team}.profiles)"
        elif offer.kind != "whole":
            reason = "multi-node serving claims whole GPUs (each pipeline stage holds its layers' full tensors)"
        elif sku.gpu.vendor != "nvidia":
            reason = "the Ray LLM image is the CUDA build (AMD GPUs need a ROCm image)"
        else:
            reason = _capability_reason(spec, sku.gpu.name)

        def at(gpus: int) -> Estimate:
            return estimate(
                arch, spec.effective_precision, spec.context_length, spec.concurrency, gpus, spec.kv_cache_dtype
            )

        pp = stages(at, tp, budget, min(slot.spec.max_count, arch.layers))
        best = at(tp * (pp or slot.spec.max_count))
        if pp is None and not reason:
            reason = f"does not fit even across {slot.spec.max_count} nodes (maxCount)"
        found.append(
            Candidate(
                offer.pool_group,
                offer.profile,
                offer.kind,
                offer.device_class,
                offer.isolated,
                slot,
                offer.memory_gib,
                offer.per_gpu,
                spec.gpu_memory_utilization,
                # Candidate.estimate.tp stays the per-node TP (the claim per worker pod); memory is per GPU of tp x pp.
                dataclasses.replace(best, tp=tp),
                pp is not None and not reason,
                reason,
                hourly * tp * (pp or 1) / sku.gpu_count if hourly is not None else None,
                hourly_usd_per_vm=hourly,
                pp=pp or 1,
                surge=spec.replicas,
                runtime="kuberay",
            )
        )
    return found


fit.CANDIDATE_FINDERS.update({"kaito": kaito_candidates, "kuberay": kuberay_candidates})
