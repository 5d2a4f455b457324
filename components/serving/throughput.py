"""Decode throughput estimate of one model replica: a memory-bandwidth roofline, not a benchmark.

Token generation (decode) is bound by GPU memory bandwidth: every step reads the replica's weights and
its KV cache once and produces one token per running sequence. So, per GPU of a replica with tensor
parallelism TP (the :class:`~components.serving.fit.Estimate` the fit analysis already computed)::

    step seconds     = (weights/TP + KV cache/TP) / (bandwidth x share x EFFICIENCY)
    tokens/s/replica = concurrency / step seconds

``share`` is the part of a GPU's bandwidth the device gets: 1 for whole GPUs, the memory fraction of a MIG
slice (MIG partitions memory controllers with memory), 1 / replicas for a time-shared GPU (its pods take
turns). The KV term uses the full cache the fit analysis sized (every sequence at ``contextLength``), so the
figure is a lower bound of the roofline at that load; prefill, scheduling and communication between TP
ranks are ignored, so a real server is slower still. It ranks options; it does not promise a number.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.serving.fit import GIB, Estimate

BANDWIDTH_GBPS: dict[str, float] = {
    "T4": 320.0,
    "A10": 600.0,
    "A100-40GB": 1555.0,
    "A100-80GB": 1935.0,
    "A100-80GB-SXM": 2039.0,
    "H100-NVL": 3900.0,
    "H100": 3350.0,
    "H200": 4800.0,
    "MI300X": 5300.0,
}
"""Peak GPU memory bandwidth (GB/s, 10^9 bytes) by the GPU model names of components/gpu_skus.py, from the
vendors' datasheets: NVIDIA T4 (320 GB/s), A10 (600 GB/s), A100 (40GB SXM4 1,555 GB/s; 80GB PCIe
1,935 GB/s; 80GB SXM4 2,039 GB/s), H100 NVL (3.9 TB/s), H100 SXM (3.35 TB/s), H200 SXM (4.8 TB/s); AMD
Instinct MI300X (5.3 TB/s). Cross-checked against glennklockwood.com/garden/processors/A100 and
morphllm.com/nvidia-h200 (as of 2026-12)."""

EFFICIENCY = 0.6
"""Fraction of peak bandwidth a decode step sustains (kernel efficiency): an assumption, stated here once."""


@dataclass(frozen=True)
class Throughput:
    tokens_per_second: float
    """Generated tokens per second of one replica with every sequence running."""
    bandwidth_gbps: float
    """Bandwidth the replica's device gets per GPU (after ``share``, before ``EFFICIENCY``)."""

    def to_json(self) -> dict[str, float]:
        return {"tokensPerSecond": round(self.tokens_per_second, 1), "bandwidthGBps": round(self.bandwidth_gbps, 1)}


def decode_throughput(estimate: Estimate, gpu_model: str, share: float, concurrency: int) -> Throughput | None:
    """Tokens/s of one replica at ``concurrency`` sequences; None for a GPU model without a bandwidth figure."""
    peak = BANDWIDTH_GBPS.get(gpu_model)
    if peak is None or share <= 0:
        return None
    bandwidth = peak * share
    bytes_per_step = (estimate.weights_gib + estimate.kv_cache_gib) * GIB
    step_seconds = bytes_per_step / (bandwidth * 1e9 * EFFICIENCY)
    return Throughput(concurrency / step_seconds, bandwidth)
