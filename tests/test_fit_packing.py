"""Throughput, cost per token and fewest-GPU packing (components/serving/throughput.py, packing.py)."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import pytest

from components.gpu_skus import BANDWIDTH_SOURCES, GPU_SKUS
from components.serving import analyse, catalog, estimate
from components.serving.packing import EXACT_LIMIT, lower_bound, search
from components.serving.throughput import DECODE_EFFICIENCY, replica_throughput
from stacks.__main__ import main
from stacks.config import load_config
from stacks.plan import read_stack_file

GIB = 1024**3
SMALL_QWEN = {
    "cluster": "weu1",
    "model": "qwen2.5-7b-instruct",
    "precision": "int4",
    "source": "Qwen/Qwen2.5-7B-Instruct-AWQ",
    "contextLength": 2048,
    "concurrency": 2,
}


def _cfg(stack: str, **models: dict[str, Any]) -> Any:
    stack_file = read_stack_file(stack)
    config_map = dict(stack_file.config_map)
    if models:
        current = json.loads(config_map["ai-platform:models"])
        config_map["ai-platform:models"] = json.dumps({**current, **models})
    return load_config(config_map, stack_file.source)


def test_every_gpu_has_a_bandwidth_with_its_source() -> None:
    for sku in GPU_SKUS.values():
        assert sku.gpu.bandwidth_gbs > 0
        assert BANDWIDTH_SOURCES[sku.gpu.name].startswith("https://")
    got = {s.gpu.name: s.gpu.bandwidth_gbs for s in GPU_SKUS.values()}
    assert got == {
        "T4": 320,
        "A10": 600,
        "A100-80GB": 1935,
        "A100-40GB": 1555,
        "A100-80GB-SXM": 2039,
        "H100-NVL": 3938,
        "H100": 3350,
        "H200": 4800,
        "MI300X": 5300,
    }


def test_prod_chat_70b_throughput_by_hand() -> None:
    plan, issues = analyse(_cfg("prod").serving)
    assert issues == []
    fit = plan.fits["chat-70b"]
    t = fit.throughput
    assert t is not None
    # H100 NVL 94 GiB x 0.9 = 84.6; weights 70.55e9 x 1 byte x 1.02 + 2.3 GiB; KV 327680 B/token
    free = 94 * 0.9 - (70.55e9 * 1.02 / GIB + 2.3)
    assert t.kv_cache_tokens == math.floor(free * GIB / 327680) == 50073
    assert t.max_sequences == 50073 // 8192 == 6
    # step: 70.55e9 weight bytes + 4 sequences x 4096 mean tokens x 327680 B, at 3938 GB/s x 0.6
    step = (70.55e9 + 4 * 4096 * 327680) / (3938e9 * DECODE_EFFICIENCY)
    assert t.decode_tokens_per_second == pytest.approx(4 / step)
    assert t.sequence_tokens_per_second == pytest.approx(1 / step)
    hourly = fit.chosen.hourly_usd_per_replica if fit.chosen else None
    assert hourly is not None
    # USD per million output tokens at 50% utilisation
    assert t.usd_per_million_tokens == pytest.approx(hourly / (4 / step * 3600 * 0.5) * 1e6)
    row = plan.rows()[0]
    assert row["decodeTokensPerSecond"] == round(4 / step, 1)
    assert row["kvCacheTokens"] == 50073


def test_a_mig_slice_gets_its_share_of_bandwidth_and_tenants_split_it() -> None:
    plan, _ = analyse(_cfg("dev").serving)
    research = plan.fits["research-3b"].throughput
    assert research is not None
    # 1g.10gb on an 80 GB A100 PCIe: one eighth of 1935 GB/s
    assert research.bandwidth_gbs == pytest.approx(1935 * 10 / 80)
    shared = {
        "a": {**SMALL_QWEN, "team": "research", "profile": "t4-shared"},
        "b": {**SMALL_QWEN, "team": "research", "profile": "t4-shared"},
    }
    plan, issues = analyse(_cfg("dev", **shared).serving)
    assert issues == []
    a = plan.fits["a"]
    assert a.shared_claim == plan.fits["b"].shared_claim
    assert a.tenants == 2
    assert a.throughput is not None
    assert a.throughput.bandwidth_gbs == pytest.approx(320 / 2)


def test_kv_cache_split_by_tensor_parallelism() -> None:
    qwen = catalog()["qwen2.5-7b-instruct"]  # 4 KV heads
    # TP 2: each GPU holds 2 of 4 KV heads; TP 8: heads are replicated, each GPU holds one (a quarter)
    assert estimate(qwen, "bf16", 8192, 8, tp=2).kv_share == 0.5
    assert estimate(qwen, "bf16", 8192, 8, tp=8).kv_share == 0.25
    deepseek = catalog()["deepseek-v3"]
    # Multi-head latent attention: every rank keeps the whole latent cache
    e = estimate(deepseek, "fp8", 8192, 8, tp=8)
    assert e.kv_bytes_per_token == 61 * 576 * 2
    assert e.kv_share == 1.0
    assert e.kv_cache_gib == pytest.approx(61 * 576 * 2 * 8192 * 8 / GIB)


def test_throughput_reads_only_the_active_experts() -> None:
    def rate(weights: float, hourly: float | None = 3.0) -> Any:
        return replica_throughput(
            budget_gib=80.0,
            fixed_gib=50.0,
            kv_bytes_per_token_per_gpu=131072.0,
            weight_bytes_read_per_gpu=weights,
            context_length=4096,
            batch=8,
            bandwidth_gbs=2000.0,
            hourly_usd=hourly,
        )

    dense, moe = rate(46.7e9 * 2), rate(12.88e9 * 2)
    assert moe.decode_tokens_per_second > 2.5 * dense.decode_tokens_per_second
    assert moe.kv_cache_tokens == dense.kv_cache_tokens == math.floor(30 * GIB / 131072)
    assert moe.usd_per_million_tokens is not None
    assert dense.usd_per_million_tokens is not None
    assert moe.usd_per_million_tokens < dense.usd_per_million_tokens
    assert rate(1e9, None).usd_per_million_tokens is None


def test_search_exact_matches_brute_force_and_is_deterministic() -> None:
    counts = [3, 2, 4]
    combos = itertools.product(range(3), range(2), range(4))
    table = {c: ((c[0] - 1) ** 2 + (c[1] - 1) ** 2 + (c[2] - 2) ** 2) % 5 for c in combos}
    best = min(table.values())
    choice = search(counts, lambda c: table[c])
    assert table[choice] == best
    assert choice == min(c for c, v in table.items() if v == best)  # ties: the first combination
    assert search([], lambda c: 0) == ()


def test_search_local_improvement_beyond_the_exact_limit() -> None:
    counts = [5] * 8
    assert math.prod(counts) > EXACT_LIMIT
    target = (4, 0, 3, 1, 2, 4, 0, 1)
    # Separable score: single changes reach the optimum
    choice = search(counts, lambda c: sum(abs(a - b) for a, b in zip(c, target, strict=True)))
    assert choice == target


def test_lower_bound_is_total_memory_over_gpu_memory() -> None:
    overall, per_model = lower_bound([30.0, 30.0, 30.0], {"A100-80GB": 80, "T4": 16})
    assert (overall, per_model) == (2, {"A100-80GB": 2, "T4": 6})
    assert lower_bound([80.0], {"H100": 80}) == (1, {"H100": 1})


def test_packing_fills_paid_slices_before_a_cheaper_gpu() -> None:
    """The cheapest candidate per replica (a quarter of a T4) costs a GPU more than the A100 slices already used."""
    plan, issues = analyse(_cfg("dev", extra={**SMALL_QWEN, "team": "research"}).serving)
    assert issues == []
    extra = plan.fits["extra"]
    assert extra.options[0].profile == "t4-shared"  # cheapest per replica
    assert extra.chosen is not None
    assert extra.chosen.profile == "a100-1g"  # joins research-3b's A100: 7 slices, 3 used
    summary = plan.to_json()
    assert summary["gpusNeeded"] == 2  # A100 (3 slices) + T4 (assistant); per-replica choice: 3
    assert summary["lowerBoundGpus"] == 1
    bound = summary["lowerBounds"]["weu1"]
    # 9.42 (assistant) + 2 x 7.99 (research-3b) + 6.14 (extra) = 31.5 GiB: 1 x 80 GB A100 or 2 x 16 GB T4
    assert bound["memoryGib"] == pytest.approx(9.42 + 2 * 7.99 + 6.14, abs=0.05)
    assert bound["perGpuModel"] == {"A100-80GB": 1, "T4": 2}
    # Whole slices and GPUs: 3 x 1/7 A100 (1g) + assistant's least share, 9.42 GiB of a 95% T4 (time-shared) -> 2
    assert bound["slotGpus"] == math.ceil(3 / 7 + 9.42 / (16 * 0.95)) == 2
    assert summary["slotBoundGpus"] == 2
    mig = next(p for p in plan.placements if p.profile == "a100-1g")
    assert sorted(mig.models) == ["extra", "research-3b"]


def test_pins_are_respected_by_the_packing() -> None:
    pinned = {**SMALL_QWEN, "team": "research", "profile": "t4-shared"}
    plan, issues = analyse(_cfg("dev", extra=pinned).serving)
    assert issues == []
    assert plan.fits["extra"].chosen is not None
    assert plan.fits["extra"].chosen.profile == "t4-shared"
    assert plan.to_json()["gpusNeeded"] == 3


def test_fit_json_gives_the_table_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "prod", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "platform-fit/v1"
    plan, _ = analyse(_cfg("prod").serving)
    assert document["models"] == plan.rows()
    # chat-70b (2 x 1 GPU) and the multi-node qwen-72b (TP 1 x PP 2): 4 H100 NVL, as the memory bound says.
    assert document["gpusNeeded"] == 4
    assert document["lowerBoundGpus"] == 4
    assert document["throughputAssumptions"]["costUtilisation"] == 0.5
    assert main(["fit", "prod"]) == 0
    table = capsys.readouterr().out
    row = document["models"][0]
    line = next(line for line in table.splitlines() if line.split()[:1] == ["chat-70b"])
    assert f"{row['decodeTokensPerSecond']:,.0f}" in line.split()
    assert f"{row['usdPerMillionTokens']:.2f}" in line.split()
