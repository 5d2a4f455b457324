"""The fit table: model, precision, GPUs, pool/profile, memory, throughput, cost (CLI and plan summary)."""

from __future__ import annotations

from components.serving.fit import ServingPlan
from components.serving.throughput import COST_UTILISATION, DECODE_EFFICIENCY


def fit_table(plan: ServingPlan) -> list[str]:
    if not plan.fits:
        return ["  (no models configured)"]
    lines = [
        f"  {'model':<18} {'team':<12} {'precision':<9} {'GPUs':>4} {'TP':>2}  {'pool/profile':<22} "
        f"{'need/avail GiB/GPU':>18} {'KV tokens':>9} {'seqs':>4} {'tok/s':>7} {'USD/Mtok':>8} {'USD/month':>10}"
    ]
    for row in plan.rows():
        where = f"{row['cluster']}/{row['pool']}/{row['profile']}"
        need = f"{row['neededGibPerGpu']:.1f}/{row['availableGibPerGpu']:.1f}"
        cost = f"{row['monthlyUsd']:,.0f}" if row["monthlyUsd"] is not None else "unpriced"
        per_token = f"{row['usdPerMillionTokens']:.2f}" if row["usdPerMillionTokens"] is not None else "unpriced"
        # Runtimes other than vllm say so at the end of the row (kuberay: TP per node x PP nodes).
        runtime = "" if row.get("runtime", "vllm") == "vllm" else f"  {row['runtime']}"
        if (row.get("pipelineParallel") or 1) > 1:
            runtime += f" TP {row['tensorParallel']} x PP {row['pipelineParallel']} across nodes"
        lines.append(
            f"  {row['model']:<18} {row['team']:<12} {row['precision']:<9} {row['gpus']:>4} "
            f"{row['tensorParallel']:>2}  {where:<22} {need:>18} {row['kvCacheTokens']:>9,} "
            f"{row['maxSequences']:>4} {row['decodeTokensPerSecond']:>7,.0f} {per_token:>8} {cost:>10}{runtime}"
        )
    summary = plan.to_json()
    lines.append(
        f"  GPUs needed {summary['gpusNeeded']} (fewest-GPU packing over pools and sharing profiles; lower bound "
        f"{summary['lowerBoundGpus']}) vs {summary['wholeGpuPerPodGpus']} with a whole GPU per pod"
    )
    for cluster, bound in summary["lowerBounds"].items():
        per_model = ", ".join(f"{gpu} {n}" for gpu, n in bound["perGpuModel"].items())
        lines.append(
            f"    {cluster}: {bound['placedGpus']} GPUs placed; bound ceil({bound['memoryGib']:.1f} GiB / GPU memory): "
            f"{bound['gpus']} ({per_model}); whole slices and GPUs: {bound['slotGpus']}"
        )
    for p in plan.placements:
        lines.append(
            f"    {p.cluster}/{p.pool_group}/{p.profile} ({p.kind}): {p.replicas} replicas on "
            f"{p.gpus} GPU(s), {p.nodes}/{p.max_nodes} nodes"
        )
    lines.append(
        f"  tok/s: decode rate per replica at its concurrency (memory-bandwidth bound, {DECODE_EFFICIENCY:.0%} of "
        f"peak bandwidth); USD/Mtok: per million output tokens at {COST_UTILISATION:.0%} utilisation"
    )
    meta = plan.table.meta()
    lines.append(
        f"  Prices: {meta['source']}, as of {meta['asOf']}, {meta['hoursPerMonth']:g} h/month; regions "
        f"not in the table priced at {meta['fallbackRegion']}"
    )
    return lines


MARKDOWN_HEADER = [
    "| stack | model | precision | GPUs (TP) | pool/profile | GPU | KV tokens | seqs at context | tok/s per replica | "
    "USD / M tokens | USD/month |",
    "|---|---|---|---:|---|---|---:|---:|---:|---:|---:|",
]


def fit_markdown_rows(stack: str, plan: ServingPlan) -> list[str]:
    """One markdown row per deployment (README and docs/model-serving.md; ``stacks fit STACK --markdown``)."""
    rows = []
    for row, fit in zip(plan.rows(), plan.fits.values(), strict=True):
        gpu = fit.chosen.sku.gpu.name if fit.chosen else "-"
        per_token = f"{row['usdPerMillionTokens']:.2f}" if row["usdPerMillionTokens"] is not None else "unpriced"
        monthly = f"{row['monthlyUsd']:,.0f}" if row["monthlyUsd"] is not None else "unpriced"
        runtime = "" if row.get("runtime", "vllm") == "vllm" else f", {row['runtime']}"
        parallel = f"{row['tensorParallel']}" + (
            f" x PP {row['pipelineParallel']}" if (row.get("pipelineParallel") or 1) > 1 else ""
        )
        rows.append(
            f"| {stack} | {row['model']} ({row['catalogModel']}{runtime}) | {row['precision']} | {row['gpus']} "
            f"({parallel}) | {row['pool']}/{row['profile']} | {gpu} | {row['kvCacheTokens']:,} | "
            f"{row['maxSequences']} | {row['decodeTokensPerSecond']:,.0f} | {per_token} | {monthly} |"
        )
    return rows
