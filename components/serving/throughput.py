"""Throughput of one placed replica: KV-cache capacity, concurrent sequences, decode rate and cost per token.

Decoding is memory-bandwidth bound (each step streams the GPU's weight shard and the batch's KV cache once and
does little arithmetic per byte), so per replica and step::

    bytes per GPU  = active parameters x weight bytes / TP  +  batch x mean context x KV bytes per token x KV share
    step seconds   = bytes per GPU / (GPU bandwidth x slice share / time-sharing tenants x DECODE_EFFICIENCY)
    tokens/s       = batch / step seconds              (batch = the deployment's concurrency, vLLM --max-num-seqs)
    USD / M tokens = replica USD/hour / (tokens/s x 3600 x COST_UTILISATION) x 10^6

KV-cache capacity is what vLLM's memory share leaves after weights, activations and runtime, divided by one
token's KV bytes on one GPU; concurrent sequences are that capacity over ``contextLength``. Prefill, tensor-
parallel all-reduce time and scheduling gaps are not modelled (``DECODE_EFFICIENCY`` absorbs them), so read the
rate as an estimate to compare placements, not a benchmark. Mixture-of-experts models stream their active
parameters per step; a large batch routes its tokens to more distinct experts than one token does, so for MoE
the rate is optimistic at large ``concurrency``. Pure functions over numbers: no imports of the fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GIB = 1024**3

DECODE_EFFICIENCY = 0.6
"""Fraction of peak memory bandwidth a decode step achieves (model bandwidth utilisation, MBU, as Databricks'
"LLM Inference Performance Engineering: Best Practices", 2023, defines it). Basis:
https://www.open-source-ai.tech/glossary/model-bandwidth-utilization ("real systems land around 60 to 85
percent"; vLLM and TensorRT-LLM "commonly run in the 70 to 85 percent range", a rule of thumb, not a published
constant). 0.6 takes the low end: it also absorbs what the model leaves out (tensor-parallel all-reduce, prefill
interleaved with decode, scheduling), so rates and costs err on the safe side."""
MEAN_CONTEXT_FRACTION = 0.5
"""Sequences of a full batch are, on average, half-way through ``contextLength`` (uniform progress)."""
COST_UTILISATION = 0.5
"""The stated utilisation of USD per million output tokens: the replica decodes a full batch half of the hours it
is paid for (the rest is idle, prefill or partial batches)."""


@dataclass(frozen=True)
class Throughput:
    """One replica's capacity and speed on its placement (every figure per replica)."""

    kv_cache_tokens: int
    """Tokens the KV cache holds across all sequences."""
    max_sequences: int
    """Sequences of ``contextLength`` tokens that fit at once."""
    decode_tokens_per_second: float
    """Output tokens/s of the whole batch (``concurrency`` sequences)."""
    sequence_tokens_per_second: float
    """Output tokens/s one sequence sees."""
    usd_per_million_tokens: float | None
    """At ``COST_UTILISATION``; None when the VM size is unpriced."""
    bandwidth_gbs: float
    """Effective peak bandwidth one GPU of the replica gets (MIG slice share, time-sharing tenants)."""


def kv_capacity_tokens(free_gib: float, kv_bytes_per_token_per_gpu: float) -> int:
    """Tokens that fit in ``free_gib`` per GPU (0 when nothing is left)."""
    if free_gib <= 0 or kv_bytes_per_token_per_gpu <= 0:
        return 0
    return math.floor(free_gib * GIB / kv_bytes_per_token_per_gpu)


def replica_throughput(
    *,
    budget_gib: float,
    fixed_gib: float,
    kv_bytes_per_token_per_gpu: float,
    weight_bytes_read_per_gpu: float,
    context_length: int,
    batch: int,
    bandwidth_gbs: float,
    hourly_usd: float | None,
) -> Throughput:
    """The replica's throughput from its per-GPU memory budget and bytes read per step.

    ``budget_gib``: the memory vLLM is given on one GPU (device memory x its utilisation share);
    ``fixed_gib``: weights, activations and runtime on one GPU; ``weight_bytes_read_per_gpu``: the weight bytes
    one decode step streams on one GPU (active parameters / TP); ``bandwidth_gbs``: the effective peak bandwidth
    of one of its GPUs.
    """
    tokens = kv_capacity_tokens(budget_gib - fixed_gib, kv_bytes_per_token_per_gpu)
    step_bytes = weight_bytes_read_per_gpu + batch * context_length * MEAN_CONTEXT_FRACTION * kv_bytes_per_token_per_gpu
    step_seconds = step_bytes / (bandwidth_gbs * 1e9 * DECODE_EFFICIENCY)
    rate = batch / step_seconds
    usd = hourly_usd / (rate * 3600 * COST_UTILISATION) * 1e6 if hourly_usd is not None else None
    return Throughput(tokens, tokens // context_length, rate, 1 / step_seconds, usd, bandwidth_gbs)
