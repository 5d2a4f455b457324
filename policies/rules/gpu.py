"""GPU node pools: allowed sizes, the vendor taint, autoscaling and its caps, MIG only where the hardware
has it, spot only where the environment allows it, exactly one GPU advertiser per node.

A pool is a GPU pool when its ``vmSize`` is in ``components/gpu_skus.py`` or is an N-series size, or when
it carries the blueprint's ``ai-platform/gpu-pool`` label.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from components.facts import GPU_TAINTS, LABEL_ALLOCATION, LABEL_GROUP
from components.gpu_skus import GPU_SKUS
from policies.engine import AGENT_POOL, UNKNOWN, UNSET, Finding, Resource, Rule, RuleContext, StackView
from policies.rules._util import at, expect, is_true, pool_sku, problem, unknown

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
ALLOCATIONS = ("dra", "device-plugin")


def is_gpu_pool(r: Resource) -> bool:
    if r.type != AGENT_POOL:
        return False
    size = r.get("vmSize")
    labels = r.get("nodeLabels", {})
    if isinstance(labels, Mapping) and LABEL_GROUP in labels:
        return True
    return pool_sku(r) is not None or (isinstance(size, str) and size.lower().startswith("standard_n"))


def sku_allowed(r: Resource, ctx: RuleContext) -> Iterator[Finding]:
    if not is_gpu_pool(r):
        return
    allowed = list(ctx.setting("allowedVmSizes") or sorted(GPU_SKUS))
    lowered = {a.lower() for a in allowed}
    yield from expect(
        r,
        "vmSize",
        lambda v: isinstance(v, str) and v.lower() in lowered,
        f"one of {', '.join(allowed)}",
        "choose an allowed size, or extend allowedVmSizes in policies/config/<env>.json",
    )


def gpu_taint(r: Resource, _: RuleContext) -> Iterator[Finding]:
    if not is_gpu_pool(r):
        return
    sku = pool_sku(r)
    taint = GPU_TAINTS[sku.gpu.vendor if sku else "nvidia"]
    taints = r.get("nodeTaints", [])
    expected = f"a taint {taint.aks()} (keeps non-GPU pods off GPU nodes)"
    if taints is UNKNOWN or (isinstance(taints, list) and any(t is None for t in taints)):
        yield unknown(r, "nodeTaints", expected)
        return
    keys = [str(t).split("=")[0].split(":")[0] for t in taints or []]
    effects = [str(t).rsplit(":", 1)[-1] for t in taints or []]
    if not any(k == taint.key and e in ("NoSchedule", "NoExecute") for k, e in zip(keys, effects, strict=True)):
        yield problem(
            r,
            "nodeTaints",
            taints if taints else UNSET,
            expected,
            f"add {taint.aks()} to the pool's nodeTaints",
            default_note="no taints",
        )


def autoscaling(r: Resource, _: RuleContext) -> Iterator[Finding]:
    if not is_gpu_pool(r):
        return
    yield from expect(
        r,
        "enableAutoScaling",
        is_true,
        "true (GPU capacity follows demand)",
        "autoscale the pool with minCount/maxCount",
        default_note="false",
    )
    yield from expect(
        r,
        "maxCount",
        lambda v: isinstance(v, int) and v >= 1,
        "an upper bound >= 1",
        "set maxCount on the slot",
        default_note="none",
    )


def max_nodes(r: Resource, ctx: RuleContext) -> Iterator[Finding]:
    if not is_gpu_pool(r):
        return
    cap = int(ctx.setting("maxNodesPerPool", 16))
    yield from expect(
        r,
        "maxCount",
        lambda v: isinstance(v, int) and v <= cap,
        f"<= {cap} nodes",
        f"lower maxCount to {cap} or raise maxNodesPerPool in policies/config/<env>.json",
    )
    sku = pool_sku(r)
    gpu_cap = ctx.setting("maxGpusPerPool")
    max_count = r.get("maxCount")
    if gpu_cap is not None and sku is not None and isinstance(max_count, int) and max_count * sku.gpu_count > gpu_cap:
        yield problem(
            r,
            "maxCount",
            max_count,
            f"at most {int(gpu_cap)} GPUs per pool ({sku.vm_size} has {sku.gpu_count} per node)",
            f"lower maxCount to {int(gpu_cap) // sku.gpu_count}",
        )


def mig_supported(r: Resource, _: RuleContext) -> Iterator[Finding]:
    if r.type != AGENT_POOL:
        return
    profile = r.get("gpuInstanceProfile")
    if profile is UNSET:
        return
    sku = pool_sku(r)
    size = r.get("vmSize")
    if profile is UNKNOWN or size is UNKNOWN:
        yield unknown(r, "gpuInstanceProfile", "a MIG profile only on A100/H100/H200 sizes")
    elif sku is None or profile not in sku.gpu.mig:
        capable = sorted(s for s, k in GPU_SKUS.items() if k.mig_capable)
        yield problem(
            r,
            f"gpuInstanceProfile (with vmSize {size!r})",
            profile,
            f"no MIG profile on that size (MIG sizes: {', '.join(capable)})",
            "remove migProfile, or choose an A100/H100/H200 VM size",
        )


def spot_allowed(r: Resource, ctx: RuleContext) -> Iterator[Finding]:
    if not is_gpu_pool(r) or bool(ctx.setting("allowSpot", False)):
        return
    yield from expect(
        r,
        "scaleSetPriority",
        lambda v: v != "Spot",
        "'Regular' (spot GPUs are not allowed here)",
        "set spot: false on the slot (spot nodes are evicted without notice)",
        default="Regular",
    )


def _selector_values(obj: Any, key: str) -> set[str] | None:
    """Values a nodeSelector or node affinity requires for label ``key`` anywhere in ``obj`` (None: no rule)."""
    found: set[str] = set()
    seen = False
    stack = [obj]
    while stack:
        current = stack.pop()
        if isinstance(current, Mapping):
            if key in current and isinstance(current[key], str):
                found.add(current[key])
                seen = True
            if current.get("key") == key and isinstance(current.get("values"), list):
                found.update(str(v) for v in current["values"])
                seen = True
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return found if seen else None


def _advertiser(r: Resource) -> str | None:
    """'dra' or 'device-plugin' when ``r`` installs a GPU advertiser (Helm release or DaemonSet)."""
    text = " ".join(str(r.get(p, "")) for p in ("chart", "name")).lower()
    if r.type == DAEMON_SET:
        containers = r.get("spec.template.spec.containers", [])
        text = (
            " ".join(str(c.get("image", "")) for c in containers if isinstance(c, Mapping))
            if isinstance(containers, list)
            else ""
        )
        text = text.lower()
    if "dra-driver" in text:
        return "dra"
    if "device-plugin" in text:
        return "device-plugin"
    if "gpu-operator" in text:
        enabled = r.get("values.devicePlugin.enabled", True)
        return "device-plugin" if enabled is not False else None
    return None


def single_advertiser(stack: StackView, _: RuleContext) -> Iterator[Finding]:
    pools = [p for p in stack.of_type(AGENT_POOL) if is_gpu_pool(p)]
    for pool in pools:
        labels = pool.get("nodeLabels", {})
        mode = labels.get(LABEL_ALLOCATION, UNSET) if isinstance(labels, Mapping) else UNKNOWN
        if mode is UNKNOWN or mode is None:
            yield at(unknown(pool, f"nodeLabels.{LABEL_ALLOCATION}", "'dra' or 'device-plugin'"), pool.urn)
            continue
        if mode not in ALLOCATIONS:
            yield at(
                problem(
                    pool,
                    f"nodeLabels.{LABEL_ALLOCATION}",
                    mode,
                    "'dra' or 'device-plugin' (who advertises this pool's GPUs)",
                    "set gpuPools.<group>.allocation",
                ),
                pool.urn,
            )
    for resource in stack.of_type(HELM_RELEASE, DAEMON_SET):
        kind = _advertiser(resource)
        if kind is None:
            continue
        selected = _selector_values(resource.inputs, LABEL_ALLOCATION)
        cluster = stack.cluster_of(resource)
        for pool in pools:
            if cluster is not None and stack.cluster_of(pool) not in (None, cluster):
                continue
            labels = pool.get("nodeLabels", {})
            mode = labels.get(LABEL_ALLOCATION) if isinstance(labels, Mapping) else None
            if mode not in ALLOCATIONS or mode == kind:
                continue
            if selected is None or mode in selected:
                yield Finding(
                    f"{resource.label} installs a {kind} GPU advertiser that can run on {pool.label}, whose GPUs "
                    f"are advertised by {mode} (nodeLabels.{LABEL_ALLOCATION}={mode!r}); expected exactly one "
                    f"advertiser per node. Fix: restrict the {kind} to nodes labelled "
                    f"{LABEL_ALLOCATION}={kind} (nodeSelector or node affinity)",
                    resource.urn,
                )


RULES: list[Rule] = [
    Rule(
        "gpu-sku-allowed",
        "GPU pools use VM sizes allowed in this environment.",
        "high",
        "mandatory",
        sku_allowed,
        types=(AGENT_POOL,),
        settings={"allowedVmSizes": {"type": "array", "items": {"type": "string"}}},
    ),
    Rule(
        "gpu-taint",
        "GPU pools carry the vendor GPU taint (nvidia.com/gpu or amd.com/gpu, NoSchedule).",
        "high",
        "mandatory",
        gpu_taint,
        types=(AGENT_POOL,),
    ),
    Rule(
        "gpu-autoscaling",
        "GPU pools autoscale with an explicit maxCount.",
        "medium",
        "mandatory",
        autoscaling,
        types=(AGENT_POOL,),
    ),
    Rule(
        "gpu-max-nodes",
        "GPU pools stay within the environment's node and GPU caps.",
        "high",
        "mandatory",
        max_nodes,
        types=(AGENT_POOL,),
        settings={
            "maxNodesPerPool": {"type": "integer", "minimum": 1},
            "maxGpusPerPool": {"type": "integer", "minimum": 1},
        },
    ),
    Rule(
        "gpu-mig-supported",
        "MIG profiles only on VM sizes whose GPUs support MIG.",
        "high",
        "mandatory",
        mig_supported,
        types=(AGENT_POOL,),
    ),
    Rule(
        "gpu-spot-allowed",
        "Spot GPU pools only where the environment allows them.",
        "medium",
        "mandatory",
        spot_allowed,
        types=(AGENT_POOL,),
        settings={"allowSpot": {"type": "boolean"}},
    ),
    Rule(
        "gpu-single-advertiser",
        "Each GPU node has exactly one GPU advertiser (DRA driver or device plugin).",
        "high",
        "mandatory",
        single_advertiser,
        scope="stack",
    ),
]
