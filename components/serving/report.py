"""The fit table: model, precision, GPUs, pool/profile, monthly cost, headroom (CLI and plan summary)."""

from __future__ import annotations

from components.serving.fit import ServingPlan


def fit_table(plan: ServingPlan) -> list[str]:
    if not plan.fits:
        return ["  (no models configured)"]
    lines = [
        f"  {'model':<18} {'team':<12} {'precision':<9} {'GPUs':>4} {'TP':>2}  {'pool/profile':<22} "
        f"{'need/avail GiB per GPU':>22} {'headroom':>9} {'USD/month':>10}"
    ]
    for row in plan.rows():
        where = f"{row['cluster']}/{row['pool']}/{row['profile']}"
        need = f"{row['neededGibPerGpu']:.1f}/{row['availableGibPerGpu']:.1f}"
        cost = f"{row['monthlyUsd']:,.0f}" if row["monthlyUsd"] is not None else "unpriced"
        # Runtimes other than vllm say so at the end of the row (kuberay: TP per node x PP nodes).
        runtime = "" if row["runtime"] == "vllm" else f"  {row['runtime']}"
        if row["pipelineParallel"] and row["pipelineParallel"] > 1:
            runtime += f" TP {row['tensorParallel']} x PP {row['pipelineParallel']} across nodes"
        lines.append(
            f"  {row['model']:<18} {row['team']:<12} {row['precision']:<9} {row['gpus']:>4} "
            f"{row['tensorParallel']:>2}  {where:<22} {need:>22} {row['headroomGib']:>8.1f}G {cost:>10}{runtime}"
        )
    summary = plan.to_json()
    lines.append(
        f"  GPUs needed {summary['gpusNeeded']} (shared MIG/time-sliced placement) vs "
        f"{summary['wholeGpuPerPodGpus']} with a whole GPU per pod"
    )
    for p in plan.placements:
        lines.append(
            f"    {p.cluster}/{p.pool_group}/{p.profile} ({p.kind}): {p.replicas} replicas on "
            f"{p.gpus} GPU(s), {p.nodes}/{p.max_nodes} nodes"
        )
    meta = plan.table.meta()
    lines.append(
        f"  Prices: {meta['source']}, as of {meta['asOf']}, {meta['hoursPerMonth']:g} h/month; regions "
        f"not in the table priced at {meta['fallbackRegion']}"
    )
    return lines
