"""GPU-memory fit, the choice of pool and sharing profile, placement onto shared GPUs, and cost lines.

Per GPU of a replica with tensor parallelism TP (platform-facts, "Model fit")::

    weights/TP x 1.02 + 1.7 GiB activations + 0.6 GiB runtime + KV cache/TP  <=  device memory x utilisation
    KV bytes per token = 2 (K and V) x layers x kv_heads x head_dim x KV dtype bytes
    KV cache           = KV bytes per token x contextLength x concurrency
    weights            = parameters x (2 bf16/fp16, 1 fp8/int8, 0.5 int4)

All GPUs of one replica sit on one node (TP <= GPUs per VM, TP in 1/2/4/8 and dividing the attention
heads, as vLLM requires); MIG slices and time-shared GPUs take TP = 1. Placement reads only the active
colour of each blue-green pool group (its GPU model and MIG profile, :func:`colour_view`); a model that only
a standby colour could hold is refused at ``gpuPools.<group>.active``. Rollouts surge (``SURGE``): quota and
``maxCount`` must hold one extra pod per deployment. Everything here is pure: it reads the validated
configuration, the sharing offers and the price table, and never registers resources.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from components._common import Issue
from components.dra import SHARED_CLAIM_KINDS, DraSpec, SharingOffer, offers_for
from components.facts import COLOURS, Colour
from components.gpu_pools import GpuPoolGroupSpec, GpuSlot, gpu_slots
from components.gpu_skus import GpuSku
from components.pricing import PriceTable, PricingSpec, price_table
from components.serving.packing import lower_bound, search
from components.serving.spec import KV_BYTES, WEIGHT_BYTES, ModelArch, ModelDeploymentSpec
from components.serving.throughput import (
    COST_UTILISATION,
    DECODE_EFFICIENCY,
    MEAN_CONTEXT_FRACTION,
    Throughput,
    replica_throughput,
)
from components.teams import TeamSpec

if TYPE_CHECKING:
    from components.cluster import ClusterSpec

GIB = 1024**3
WEIGHT_OVERHEAD = 1.02
ACTIVATIONS_GIB = 1.7
RUNTIME_GIB = 0.6
TP_SIZES = (1, 2, 4, 8)
TIME_SHARE_MAX_UTILISATION = 0.95
SURGE = 1
"""Extra pods a model Deployment's rolling update starts (``maxSurge``, with ``maxUnavailable: 0``): each
claims TP more devices of its profile, so the team's quota and the active colour's ``maxCount`` must hold
``replicas + SURGE`` (a time-shared surge pod joins its deployment's shared claim)."""

COMPUTE_CAPABILITY: dict[str, float] = {
    "T4": 7.5,
    "A10": 8.6,
    "A100-40GB": 8.0,
    "A100-80GB": 8.0,
    "A100-80GB-SXM": 8.0,
    "H100-NVL": 9.0,
    "H100": 9.0,
    "H200": 9.0,
}
"""CUDA compute capability by GPU model: bf16 and fp8 (weight-only Marlin on Ampere) need >= 8.0."""
AMPERE = 8.0
"""The compute capability bf16 and fp8 need."""


@dataclass(frozen=True)
class ServingInputs:
    """What model serving reads of a stack's configuration; the composition builds it (``PlatformConfig.serving``)."""

    models: Mapping[str, ModelDeploymentSpec]
    teams: Mapping[str, TeamSpec]
    clusters: Mapping[str, ClusterSpec]
    dra: DraSpec
    pricing: PricingSpec


@dataclass(frozen=True)
class Estimate:
    """Memory one GPU of a replica needs, in GiB, and the inputs that produced it."""

    tp: int
    weights_gib: float
    """Per GPU, including the 2% overhead."""
    activations_gib: float
    runtime_gib: float
    kv_cache_gib: float
    """Per GPU."""
    kv_bytes_per_token: float
    """One token's KV cache across all layers of the replica (every GPU holds ``kv_share`` of it)."""
    kv_share: float = 1.0
    """The fraction of the replica's KV cache each GPU holds (``ModelArch.kv_share_per_gpu``)."""

    @property
    def total_gib(self) -> float:
        return self.weights_gib + self.activations_gib + self.runtime_gib + self.kv_cache_gib


def estimate(
    arch: ModelArch, precision: str, context_length: int, concurrency: int, tp: int = 1, kv_cache_dtype: str = "auto"
) -> Estimate:
    weight_bytes = arch.parameters_billions * 1e9 * WEIGHT_BYTES[precision]
    kv_per_token = arch.kv_elements_per_token * KV_BYTES[kv_cache_dtype]
    kv_total = kv_per_token * context_length * concurrency
    share = arch.kv_share_per_gpu(tp)
    return Estimate(
        tp=tp,
        weights_gib=weight_bytes / tp * WEIGHT_OVERHEAD / GIB,
        activations_gib=ACTIVATIONS_GIB,
        runtime_gib=RUNTIME_GIB,
        kv_cache_gib=kv_total * share / GIB,
        kv_bytes_per_token=kv_per_token,
        kv_share=share,
    )


@dataclass(frozen=True)
class Candidate:
    """One (pool group, sharing profile) a deployment could use, with the best TP found for it."""

    pool_group: str
    profile: str
    kind: str
    device_class: str
    isolated: bool
    slot: GpuSlot
    device_memory_gib: float
    per_gpu: int
    utilisation: float
    estimate: Estimate | None
    fits: bool
    reason: str
    hourly_usd_per_replica: float | None
    hourly_usd_per_vm: float | None = None
    pp: int = 1
    """Pipeline stages, one node each (``runtime: kuberay``): a replica takes ``tp x pp`` GPUs on ``pp`` nodes."""
    surge: int = SURGE
    """Extra replicas a rollout starts before old ones stop (vLLM Deployment ``maxSurge``; KAITO 0; KubeRay's
    ``NewCluster`` upgrade: every replica)."""
    runtime: str = "vllm"

    @property
    def budget_gib(self) -> float:
        return self.device_memory_gib * self.utilisation

    @property
    def tp(self) -> int:
        return self.estimate.tp if self.estimate else 1

    @property
    def headroom_gib(self) -> float:
        return self.budget_gib - (self.estimate.total_gib if self.estimate else 0.0)

    @property
    def sku(self) -> GpuSku:
        return self.slot.sku

    def describe(self) -> str:
        stages = f" x PP={self.pp}" if self.pp > 1 else ""
        need = f"{self.estimate.total_gib:.1f} GiB/GPU at TP={self.tp}{stages}" if self.estimate else "n/a"
        return (
            f"{self.pool_group}/{self.profile} ({self.sku.vm_size}, {self.device_memory_gib:g} GiB x "
            f"{self.utilisation:g} = {self.budget_gib:.1f} GiB available): needs {need}"
            + (f" - {self.reason}" if self.reason else "")
        )


def _active_slot(group: str, spec: GpuPoolGroupSpec) -> GpuSlot:
    return next(s for s in gpu_slots(group, spec) if s.active)


def colour_view(cluster: ClusterSpec, standby: bool = False) -> ClusterSpec:
    """``cluster`` with each pool group reduced to its active slot (``standby``: to its standby slot, made
    active; groups without one are left out).

    Placement reads only this view: model pods select the active colour's nodes (``nodeSelector``
    ``ai-platform/color``) and claim the profile's DeviceClass, so an offer counts only when the active
    colour's GPU model and MIG profile serve it. A profile the standby colour alone serves (the old colour
    after a switch to another MIG profile or GPU model) would leave pods that can never schedule.
    """
    groups: dict[str, GpuPoolGroupSpec] = {}
    for key, group in cluster.gpu_pools.items():
        colour: Colour | None = group.active
        if standby:
            colour = next((c for c in COLOURS if c != group.active and c in group.slots), None)
        if colour is not None:
            # model_copy skips validation: the reduced group stays consistent (its one slot is the active one).
            groups[key] = group.model_copy(update={"active": colour, "slots": {colour: group.slots[colour]}})
    return cluster.model_copy(update={"gpu_pools": groups})


def _tp_options(kind: str, sku: GpuSku, arch: ModelArch) -> list[int]:
    if kind not in ("whole", "gpuNic"):
        return [1]
    return [tp for tp in TP_SIZES if tp <= sku.gpu_count and arch.attention_heads % tp == 0]


def candidates(
    spec: ModelDeploymentSpec,
    cluster: Any,
    offers: Sequence[SharingOffer],
    table: PriceTable,
    allowed: set[str] | None = None,
) -> list[Candidate]:
    """Every offer of the cluster (filtered by ``pool``/``profile``), each evaluated at its smallest fitting TP.

    ``allowed``: the profiles the team may claim (``teams.<team>.profiles``); None allows every profile.
    """
    arch = spec.arch
    assert arch is not None, "validated by ModelDeploymentSpec"
    precision = spec.effective_precision
    found: list[Candidate] = []
    for offer in offers:
        if offer.pool_group not in cluster.gpu_pools:
            continue
        if spec.pool and offer.pool_group != spec.pool:
            continue
        if spec.profile and offer.profile != spec.profile:
            continue
        slot = _active_slot(offer.pool_group, cluster.gpu_pools[offer.pool_group])
        sku = slot.sku
        hourly, _ = table.hourly(sku.vm_size, cluster.location)
        reason = ""
        capability = COMPUTE_CAPABILITY.get(sku.gpu.name, 0.0)
        if allowed is not None and offer.profile not in allowed:
            reason = f"team {spec.team} may not claim this profile (teams.{spec.team}.profiles)"
        elif offer.kind == "gpuNic":
            reason = "GPU + RDMA NIC profiles are for multi-node jobs; serving uses one node per replica"
        elif sku.gpu.vendor != "nvidia":
            reason = "the vLLM image is the CUDA build (AMD GPUs need a ROCm image)"
        elif precision == "fp8" and capability < AMPERE:
            reason = f"fp8 needs compute capability >= {AMPERE} ({sku.gpu.name} has {capability})"
        elif spec.kv_cache_dtype == "fp8" and capability < AMPERE:
            reason = f"an fp8 KV cache needs compute capability >= {AMPERE} ({sku.gpu.name} has {capability})"
        utilisation = spec.gpu_memory_utilization
        best: Estimate | None = None
        fits = False
        for tp in _tp_options(offer.kind, sku, arch):
            best = estimate(arch, precision, spec.context_length, spec.concurrency, tp, spec.kv_cache_dtype)
            if best.total_gib <= offer.memory_gib * utilisation:
                fits = True
                break
        if best is None:
            reason = reason or f"no TP in {TP_SIZES} divides {arch.attention_heads} heads within {sku.gpu_count} GPUs"
        elif not fits and not reason:
            reason = "does not fit" + (" even at the largest TP on one node" if best.tp > 1 else "")
        devices_per_node = sku.gpu_count * offer.per_gpu
        cost = hourly * (best.tp if best else 1) / devices_per_node if hourly is not None else None
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
                utilisation,
                best,
                fits and not reason,
                reason,
                cost,
                hourly,
            )
        )
    return found


def _rank(c: Candidate) -> tuple[float, int, int, float, str]:
    return (
        c.hourly_usd_per_replica if c.hourly_usd_per_replica is not None else math.inf,
        0 if c.isolated else 1,
        c.tp,
        -c.headroom_gib,
        # Last, the pool's stable id (renamedFrom-aware), not the config key: renaming a group with renamedFrom
        # must not move a model between two identical pools.
        c.slot.pool_id,
    )


CandidateFinder = Callable[
    [ModelDeploymentSpec, Any, Sequence[SharingOffer], PriceTable, "set[str] | None"], list[Candidate]
]
CANDIDATE_FINDERS: dict[str, CandidateFinder] = {}
"""Runtime -> its candidate finder (components/serving/runtime_fit.py registers ``kaito`` and ``kuberay``);
``vllm`` and any runtime not registered use :func:`candidates`."""


def finder(runtime: str) -> CandidateFinder:
    return CANDIDATE_FINDERS.get(runtime, candidates)


@dataclass
class Fit:
    name: str
    spec: ModelDeploymentSpec
    candidates: list[Candidate]
    chosen: Candidate | None
    shared_claim: str | None = None
    """Time-shared profiles: the team's shared ResourceClaim (``<profile>-<i>``) this deployment's pods use."""
    options: list[Candidate] = field(default_factory=list)
    """The fitting candidates, cheapest per replica first; the stack-wide packing (``choose``) picks ``chosen``."""
    tenants: int = 1
    """Pods on this deployment's GPU: its time-shared claim's pods (they share its bandwidth), else 1."""

    @property
    def throughput(self) -> Throughput | None:
        """KV capacity, concurrent sequences, decode rate and USD per million tokens of one replica."""
        c = self.chosen
        if c is None or c.estimate is None:
            return None
        arch = self.spec.arch
        assert arch is not None
        est = c.estimate
        share = c.device_memory_gib / c.sku.gpu.memory_gib  # a MIG slice gets its memory slices' bandwidth
        return replica_throughput(
            budget_gib=c.device_memory_gib * vllm_memory_utilisation(c),
            fixed_gib=est.weights_gib + est.activations_gib + est.runtime_gib,
            kv_bytes_per_token_per_gpu=est.kv_bytes_per_token * est.kv_share,
            weight_bytes_read_per_gpu=arch.active_billions * 1e9 * WEIGHT_BYTES[self.spec.effective_precision] / c.tp,
            context_length=self.spec.context_length,
            batch=self.spec.concurrency,
            bandwidth_gbs=c.sku.gpu.bandwidth_gbs * min(share, 1.0) / max(self.tenants, 1),
            hourly_usd=c.hourly_usd_per_replica,
        )

    @property
    def monthly_usd(self) -> float | None:
        if self.chosen is None or self.chosen.hourly_usd_per_replica is None:
            return None
        return self.chosen.hourly_usd_per_replica * self.spec.replicas

    def row(self, hours_per_month: float) -> dict[str, Any]:
        c = self.chosen
        hourly = self.monthly_usd
        return {
            "model": self.name,
            "team": self.spec.team,
            "cluster": self.spec.cluster,
            "catalogModel": self.spec.model or "custom",
            "precision": self.spec.effective_precision,
            "replicas": self.spec.replicas,
            "runtime": self.spec.runtime,
            "tensorParallel": c.tp if c else None,
            "pipelineParallel": c.pp if c else None,
            "gpus": (c.tp * c.pp * self.spec.replicas) if c else None,
            "pool": c.pool_group if c else None,
            "profile": c.profile if c else None,
            "kind": c.kind if c else None,
            "deviceClass": c.device_class if c else None,
            "vmSize": c.sku.vm_size if c else None,
            "neededGibPerGpu": round(c.estimate.total_gib, 2) if c and c.estimate else None,
            "availableGibPerGpu": round(c.budget_gib, 2) if c else None,
            "headroomGib": round(c.headroom_gib, 2) if c else None,
            "monthlyUsd": round(hourly * hours_per_month, 2) if hourly is not None else None,
            **_throughput_row(self.throughput),
        }


def _throughput_row(t: Throughput | None) -> dict[str, Any]:
    return {
        "kvCacheTokens": t.kv_cache_tokens if t else None,
        "maxSequences": t.max_sequences if t else None,
        "decodeTokensPerSecond": round(t.decode_tokens_per_second, 1) if t else None,
        "sequenceTokensPerSecond": round(t.sequence_tokens_per_second, 1) if t else None,
        "usdPerMillionTokens": round(t.usd_per_million_tokens, 3) if t and t.usd_per_million_tokens else None,
        "gpuBandwidthGBs": round(t.bandwidth_gbs, 1) if t else None,
    }


def _gpu_share(c: Candidate) -> float:
    """The least part of a GPU one replica on ``c`` takes: TP whole GPUs, one MIG slice (1/slices per GPU), or,
    time-shared, its memory over 95% of the GPU (at least one of ``per_gpu`` tenants)."""
    if c.kind == "mig":
        return 1 / c.per_gpu
    if c.kind == "timeShared" and c.estimate is not None:
        return max(1 / c.per_gpu, c.estimate.total_gib / (c.device_memory_gib * TIME_SHARE_MAX_UTILISATION))
    return float(c.tp)


def vllm_memory_utilisation(c: Candidate) -> float:
    """The ``--gpu-memory-utilization`` vLLM is given: the deployment's setting, or, time-shared, only its share
    of the whole GPU (what it needs plus 0.5 GiB, in whole percent, at most 0.95)."""
    if c.kind == "timeShared" and c.estimate is not None:
        return min(
            TIME_SHARE_MAX_UTILISATION, math.ceil((c.estimate.total_gib + 0.5) / c.device_memory_gib * 100) / 100
        )
    if c.kind == "mps" and c.estimate is not None:
        # An MPS client: stay inside its pinned limit. The fraction is of the whole GPU's memory, so it never asks
        # for more than the limit whether CUDA reports the limit or the whole GPU as the total.
        share = min(c.device_memory_gib * c.utilisation, c.estimate.total_gib + 0.5)
        return max(0.01, math.floor(share / c.sku.gpu.memory_gib * 100) / 100)
    return c.utilisation


@dataclass
class Placement:
    """Replicas of the deployments that share one (cluster, pool group, profile), packed onto GPUs."""

    cluster: str
    pool_group: str
    profile: str
    kind: str
    models: list[str]
    replicas: int
    devices: int
    gpus: int
    whole_gpu_alternative: int
    nodes: int
    max_nodes: int
    surge_nodes: int = 0
    """Nodes while every deployment of the bucket rolls out with ``SURGE`` extra pods."""
    gpu_model: str = ""
    gpu_memory_gib: float = 0.0
    hourly_usd_per_gpu: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "pool": self.pool_group,
            "profile": self.profile,
            "kind": self.kind,
            "models": self.models,
            "replicas": self.replicas,
            "devices": self.devices,
            "gpus": self.gpus,
            "wholeGpuPerPodGpus": self.whole_gpu_alternative,
            "nodes": self.nodes,
            "maxNodes": self.max_nodes,
            "gpuModel": self.gpu_model,
        }


def _first_fit_decreasing(sizes: Iterable[float], capacity: float, max_items: int | None = None) -> int:
    bins: list[list[float]] = []
    for size in sorted(sizes, reverse=True):
        target = next(
            (b for b in bins if sum(b) + size <= capacity + 1e-9 and (max_items is None or len(b) < max_items)), None
        )
        if target is None:
            bins.append([size])
        else:
            target.append(size)
    return len(bins)


def place(fits: Sequence[Fit]) -> list[Placement]:
    """Pack the chosen replicas per (cluster, pool group, profile) onto as few GPUs as possible.

    MIG: ``per_gpu`` isolated slices per GPU. Time-sharing: replicas share a GPU while their memory needs add
    up to at most 95% of it and there are at most ``per_gpu`` of them. Whole GPUs: TP GPUs per replica, all
    on one node. The whole-GPU-per-pod alternative gives every replica TP whole GPUs of its own.
    """
    buckets: dict[tuple[str, str, str], list[Fit]] = {}
    for fit in fits:
        if fit.chosen is not None:
            buckets.setdefault((fit.spec.cluster, fit.chosen.pool_group, fit.chosen.profile), []).append(fit)
    # Time-shared GPUs are shared through one ResourceClaim, and claims are namespaced: pack per team, every
    # replica of a deployment on its claim.
    for members in buckets.values():
        first = members[0].chosen
        if first is None or first.kind not in SHARED_CLAIM_KINDS:
            continue
        claims: dict[str, list[tuple[float, int]]] = {}
        for fit in sorted(
            members,
            key=lambda f: -(f.chosen.estimate.total_gib if f.chosen and f.chosen.estimate else 0.0) * f.spec.replicas,
        ):
            assert fit.chosen is not None
            assert fit.chosen.estimate is not None
            size, count = fit.chosen.estimate.total_gib * fit.spec.replicas, fit.spec.replicas
            # Time-shared replicas share the whole GPU's memory; each MPS client has its own pinned limit (the
            # candidate already checked one replica against it), so only the client count binds.
            capacity = first.device_memory_gib * (
                TIME_SHARE_MAX_UTILISATION if first.kind == "timeShared" else first.per_gpu
            )
            index = 0
            while True:
                key = f"{fit.spec.team}/{first.profile}-{index}"
                used = claims.setdefault(key, [])
                if (
                    sum(u for u, _ in used) + size <= capacity + 1e-9
                    and sum(c for _, c in used) + count <= first.per_gpu
                ):
                    used.append((size, count))
                    fit.shared_claim = f"{first.profile}-{index}"
                    break
                index += 1
    placements: list[Placement] = []
    for (cluster, group, profile), members in sorted(buckets.items()):
        first = members[0].chosen
        assert first is not None
        replicas = sum(f.spec.replicas for f in members)
        alternative = sum(f.spec.replicas * (f.chosen.tp * f.chosen.pp if f.chosen else 1) for f in members)
        devices, gpus, nodes = _packing(first, members, False)
        placements.append(
            Placement(
                cluster,
                group,
                profile,
                first.kind,
                [f.name for f in members],
                replicas,
                devices,
                gpus,
                alternative,
                nodes,
                first.slot.spec.max_count,
                _packing(first, members, True)[2],
                first.sku.gpu.name,
                first.sku.gpu.memory_gib,
                first.hourly_usd_per_vm / first.sku.gpu_count if first.hourly_usd_per_vm is not None else None,
            )
        )
    return placements


def _packing(first: Candidate, members: Sequence[Fit], rollout: bool) -> tuple[int, int, int]:
    """(devices, GPUs, nodes) of one bucket; ``rollout``: with each deployment's surge replicas (``surge``)."""
    per_node = first.sku.gpu_count

    def surge(f: Fit) -> int:
        return f.chosen.surge if rollout and f.chosen else 0

    if first.kind in SHARED_CLAIM_KINDS:
        # Surge pods join their deployment's shared claim: no extra GPU.
        gpus = len({(f.spec.team, f.shared_claim) for f in members})
        return sum(f.spec.replicas + surge(f) for f in members), gpus, math.ceil(gpus / per_node)
    if first.kind == "mig":
        devices = sum(f.spec.replicas + surge(f) for f in members)
        gpus = math.ceil(devices / first.per_gpu)
        return devices, gpus, math.ceil(gpus / per_node)
    # A multi-node replica is pp pods of tp GPUs, one node each.
    tps = [f.chosen.tp for f in members if f.chosen for _ in range((f.spec.replicas + surge(f)) * f.chosen.pp)]
    return sum(tps), sum(tps), _first_fit_decreasing(tps, per_node)


@dataclass
class ServingPlan:
    fits: dict[str, Fit] = field(default_factory=dict)
    placements: list[Placement] = field(default_factory=list)
    table: PriceTable = field(default_factory=price_table)

    def rows(self) -> list[dict[str, Any]]:
        return [fit.row(self.table.hours_per_month) for fit in self.fits.values()]

    def lower_bounds(self) -> dict[str, dict[str, Any]]:
        """Per cluster: ceil(total replica memory / GPU memory), overall and per GPU model its models fit on; and
        ``slotGpus``, ceil(sum of the least GPU share each replica can take): a tighter bound, since a MIG slice or
        a whole GPU is taken whole however little of it a model fills."""
        needs: dict[str, list[float]] = {}
        memory: dict[str, dict[str, float]] = {}
        shares: dict[str, float] = {}
        for fit in self.fits.values():
            if not fit.options:
                continue
            shares[fit.spec.cluster] = shares.get(fit.spec.cluster, 0.0) + fit.spec.replicas * min(
                _gpu_share(o) for o in fit.options
            )
            arch = fit.spec.arch
            assert arch is not None
            spec = fit.spec
            # Smallest footprint of one replica: everything on one GPU (TP 1 adds no per-GPU activations/runtime).
            need = estimate(
                arch, spec.effective_precision, spec.context_length, spec.concurrency, 1, spec.kv_cache_dtype
            ).total_gib
            needs.setdefault(spec.cluster, []).extend([need] * spec.replicas)
            for option in fit.options:
                memory.setdefault(spec.cluster, {})[option.sku.gpu.name] = option.sku.gpu.memory_gib
        bounds: dict[str, dict[str, Any]] = {}
        for cluster in sorted(needs):
            overall, per_model = lower_bound(needs[cluster], memory[cluster])
            placed = sum(p.gpus for p in self.placements if p.cluster == cluster)
            bounds[cluster] = {
                "gpus": overall,
                "perGpuModel": per_model,
                "memoryGib": round(sum(needs[cluster]), 2),
                "slotGpus": math.ceil(shares[cluster] - 1e-9),
                "placedGpus": placed,
            }
        return bounds

    def to_json(self) -> dict[str, Any]:
        gpus = sum(p.gpus for p in self.placements)
        alternative = sum(p.whole_gpu_alternative for p in self.placements)
        bounds = self.lower_bounds()
        bound = sum(b["gpus"] for b in bounds.values())
        return {
            "models": self.rows(),
            "placements": [p.to_json() for p in self.placements],
            "gpusNeeded": gpus,
            "wholeGpuPerPodGpus": alternative,
            "gpusSaved": alternative - gpus,
            "lowerBoundGpus": bound,
            "gpusAboveBound": gpus - bound,
            "slotBoundGpus": sum(b["slotGpus"] for b in bounds.values()),
            "lowerBounds": bounds,
            "throughputAssumptions": {
                "decodeEfficiency": DECODE_EFFICIENCY,
                "meanContextFraction": MEAN_CONTEXT_FRACTION,
                "costUtilisation": COST_UTILISATION,
                "batch": "concurrency (vLLM --max-num-seqs)",
            },
        }

    def cost_lines(self) -> list[dict[str, Any]]:
        lines = []
        for row in self.rows():
            lines.append(
                {
                    "kind": "modelDeployment",
                    "name": row["model"],
                    "team": row["team"],
                    "cluster": row["cluster"],
                    "pool": row["pool"],
                    "profile": row["profile"],
                    "vmSize": row["vmSize"],
                    "gpus": row["gpus"],
                    "replicas": row["replicas"],
                    "monthlyUsd": row["monthlyUsd"],
                    "priced": row["monthlyUsd"] is not None,
                    "note": "share of the pool's node cost (already counted in the node pool lines)",
                }
            )
        return lines


def analyse(cfg: ServingInputs, table: PriceTable | None = None) -> tuple[ServingPlan, list[Issue]]:
    """Fit, choose and place every ``models.<name>`` of ``cfg``; issues use paths relative to the root."""
    models: dict[str, ModelDeploymentSpec] = dict(cfg.models)
    table = table or price_table(cfg.pricing)
    plan = ServingPlan(table=table)
    issues: list[Issue] = []
    teams = cfg.teams
    offers_cache: dict[str, tuple[list[SharingOffer], list[SharingOffer]]] = {}
    for name, spec in models.items():
        path: tuple[str | int, ...] = ("models", name)
        if spec.team not in teams:
            issues.append(
                Issue(
                    (*path, "team"),
                    "names a team that is not declared under teams",
                    spec.team,
                    ", ".join(sorted(teams)) or "(no teams declared)",
                    "add the team under teams",
                )
            )
        cluster = cfg.clusters.get(spec.cluster)
        if cluster is None:
            issues.append(
                Issue(
                    (*path, "cluster"),
                    "names a cluster that does not exist",
                    spec.cluster,
                    ", ".join(sorted(cfg.clusters)),
                    "use one of the stack's cluster ids",
                )
            )
            continue
        if spec.pool and spec.pool not in cluster.gpu_pools:
            issues.append(
                Issue(
                    (*path, "pool"),
                    f"is not a GPU pool group of cluster {spec.cluster}",
                    spec.pool,
                    ", ".join(sorted(cluster.gpu_pools)) or "(none)",
                    "pick a pool group or remove pool",
                )
            )
            continue
        if spec.cluster not in offers_cache:
            # Every colour's offers (what the cluster's DeviceClasses serve) and the active colours' alone.
            offers_cache[spec.cluster] = (offers_for(cfg.dra, cluster), offers_for(cfg.dra, colour_view(cluster)))
        every, offers = offers_cache[spec.cluster]
        if spec.profile and spec.profile not in {o.profile for o in every}:
            issues.append(
                Issue(
                    (*path, "profile"),
                    f"is not a sharing profile of cluster {spec.cluster}",
                    spec.profile,
                    ", ".join(sorted({o.profile for o in every})) or "(none)",
                    "pick an offered profile or remove profile",
                )
            )
            continue
        team = teams.get(spec.team)
        allowed = set(team.profiles) if team is not None else None
        found = finder(spec.runtime)(spec, cluster, offers, table, allowed)
        fitting = sorted((c for c in found if c.fits), key=_rank)
        fit = Fit(name, spec, found, fitting[0] if fitting else None, options=fitting)
        plan.fits[name] = fit
        if fit.chosen is None:
            switch = _switch_issue(cfg, name, found, table, allowed)
            if switch is not None:
                issues.append(switch)
                continue
            detail = "; ".join(c.describe() for c in found) or "no active GPU pool colour offers a sharing profile"
            if spec.runtime == "vllm" and "kuberay" in CANDIDATE_FINDERS:
                across = sorted(
                    (c for c in finder("kuberay")(spec, cluster, offers, table, allowed) if c.fits), key=_rank
                )
                if across:
                    detail += (
                        f"; it fits {across[0].pp} nodes of {across[0].pool_group}/{across[0].profile} with runtime: "
                        f"kuberay (TP={across[0].tp} x PP={across[0].pp})"
                    )
            issues.append(
                Issue(
                    path,
                    f"{spec.model or 'model'} at {spec.effective_precision}, context {spec.context_length} x "
                    f"concurrency {spec.concurrency} fits no GPU offer: {detail}",
                    spec.model or spec.source,
                    "a pool/profile with enough memory per GPU",
                    "lower contextLength or concurrency, use a smaller precision (fp8/int4), or add a pool with "
                    "larger GPUs",
                )
            )
    plan.placements = choose(plan, teams)
    issues.extend(_quota_issues(plan, teams))
    for p in plan.placements:
        if p.nodes > p.max_nodes:
            for model in p.models:
                issues.append(
                    Issue(
                        ("models", model, "replicas"),
                        f"needs {p.nodes} nodes of pool {p.pool_group} ({p.gpus} GPUs for "
                        f"{p.replicas} replicas of {', '.join(p.models)}) but its maxCount is "
                        f"{p.max_nodes}",
                        models[model].replicas,
                        f"at most {p.max_nodes} nodes",
                        f"raise clusters.{p.cluster}.gpuPools.{p.pool_group} maxCount or lower replicas",
                    )
                )
        elif p.surge_nodes > p.max_nodes:
            for model in p.models:
                issues.append(
                    Issue(
                        ("models", model, "replicas"),
                        f"a rollout ({_rollout(plan, p)}) needs {p.surge_nodes} nodes of pool "
                        f"{p.pool_group} for {', '.join(p.models)} but its maxCount is {p.max_nodes}: the "
                        "surge pod would stay Pending and the rollout never finish",
                        models[model].replicas,
                        f"at most {p.max_nodes} nodes with one surge pod per deployment",
                        f"raise clusters.{p.cluster}.gpuPools.{p.pool_group} maxCount or lower replicas",
                    )
                )
    return plan, issues


def _rollout(plan: ServingPlan, p: Placement) -> str:
    """How the bucket's deployments roll out, for messages."""
    runtimes = {plan.fits[m].spec.runtime for m in p.models}
    if runtimes == {"kuberay"}:
        return "RayService NewCluster: a second RayCluster before the old one goes"
    return f"maxSurge {SURGE}, maxUnavailable 0"


def choose(plan: ServingPlan, teams: Any) -> list[Placement]:
    """Set every deployment's ``chosen`` candidate so the stack needs the fewest GPUs, then costs least.

    Scores each combination of fitting candidates (:func:`components.serving.packing.search`) by (rollouts that
    would exceed a pool's ``maxCount`` or a team's quota, GPUs of the packed placement, hourly cost of those
    GPUs); pinned ``pool``/``profile`` only leave their own candidates. Returns the chosen placement.
    """
    fits = list(plan.fits.values())
    placed = [f for f in fits if f.options]

    def apply(choice: tuple[int, ...]) -> list[Placement]:
        for fit, index in zip(placed, choice, strict=True):
            fit.chosen = fit.options[index]
            fit.shared_claim = None
        return place(fits)

    def score(choice: tuple[int, ...]) -> tuple[int, int, float]:
        placements = apply(choice)
        over = sum(1 for p in placements if p.surge_nodes > p.max_nodes) + len(_quota_issues(plan, teams))
        cost = sum(p.gpus * (p.hourly_usd_per_gpu or 0.0) for p in placements)
        return over, sum(p.gpus for p in placements), round(cost, 6)

    labels = sorted({(o.pool_group, o.profile) for f in placed for o in f.options})
    starts = [
        tuple(next((i for i, o in enumerate(f.options) if (o.pool_group, o.profile) == label), 0) for f in placed)
        for label in labels
    ]
    placements = apply(search([len(f.options) for f in placed], score, starts))
    pods: dict[tuple[str, str, str, str], int] = {}
    for fit in placed:
        if fit.shared_claim and fit.chosen is not None:
            key = (fit.spec.cluster, fit.spec.team, fit.chosen.pool_group, fit.shared_claim)
            pods[key] = pods.get(key, 0) + fit.spec.replicas
    for fit in placed:
        if fit.shared_claim and fit.chosen is not None:
            fit.tenants = pods[(fit.spec.cluster, fit.spec.team, fit.chosen.pool_group, fit.shared_claim)]
    return placements


def _switch_issue(
    cfg: ServingInputs, name: str, found: list[Candidate], table: PriceTable, allowed: set[str] | None
) -> Issue | None:
    """A model that fits no active colour but fits a standby one: the blue-green ``active`` key is the cause.

    Reported at ``clusters.<c>.gpuPools.<group>.active`` (one line) so that a switch to a colour with
    another MIG profile, GPU model or less memory is refused before anything is registered.
    """
    spec = cfg.models[name]
    cluster = cfg.clusters[spec.cluster]
    standby = colour_view(cluster, standby=True)
    held = sorted(
        (c for c in finder(spec.runtime)(spec, standby, offers_for(cfg.dra, standby), table, allowed) if c.fits),
        key=_rank,
    )
    if not held:
        return None
    best = held[0]
    group = cluster.gpu_pools[best.pool_group]
    slot = group.slots[group.active]
    here = [c.describe() for c in found if c.pool_group == best.pool_group]
    why = "; ".join(here) if here else f"serves no {best.profile} devices ({best.kind} on {best.sku.gpu.name})"
    return Issue(
        ("clusters", spec.cluster, "gpuPools", best.pool_group, "active"),
        f"leaves models.{name} without schedulable capacity: the active colour {group.active} "
        f"({slot.vm_size}, {slot.mig_profile or 'no MIG'}) {why}; standby colour {best.slot.colour} holds it "
        f"as {best.profile}",
        group.active,
        f"{best.slot.colour}, or a colour whose vmSize/migProfile serves the model",
        f"keep active: {best.slot.colour} until slots.{group.active} serves {best.profile} with room for "
        f"{name} (vmSize, migProfile), or change models.{name}",
    )


def _quota_issues(plan: ServingPlan, teams: Any) -> list[Issue]:
    """Each team's ResourceQuota per profile (``teams.<team>.profiles``) must admit its deployments."""
    if not teams:
        return []
    used: dict[tuple[str, str, str], list[str]] = {}
    devices: dict[tuple[str, str, str], int] = {}
    for fit in plan.fits.values():
        if fit.chosen is None or fit.spec.team not in teams or fit.chosen.kind == "devicePlugin":
            continue  # device-plugin GPUs (runtime kaito) are extended resources, not DRA devices under quota
        key = (fit.spec.cluster, fit.spec.team, fit.chosen.profile)
        used.setdefault(key, []).append(fit.name)
        if fit.chosen.kind in SHARED_CLAIM_KINDS:
            index = int((fit.shared_claim or "-0").rsplit("-", 1)[1])
            devices[key] = max(devices.get(key, 0), index + 1)
        else:
            # The rollout's surge pod claims its TP devices before an old pod releases its own.
            devices[key] = devices.get(key, 0) + fit.chosen.tp * fit.chosen.pp * (fit.spec.replicas + fit.chosen.surge)
    issues = []
    for (cluster, team, profile), count in sorted(devices.items()):
        quota = teams[team].profiles.get(profile, 0)
        if count > quota:
            for model in used[(cluster, team, profile)]:
                issues.append(
                    Issue(
                        ("models", model, "replicas"),
                        f"team {team} needs {count} {profile} devices on {cluster} for "
                        f"{', '.join(used[(cluster, team, profile)])} (replicas + {SURGE} surge pod each during "
                        f"a rollout; kuberay: every replica) but its quota is {quota}",
                        plan.fits[model].spec.replicas,
                        f"<= {quota} devices",
                        f"raise teams.{team}.profiles.{profile} or lower replicas",
                    )
                )
    return issues
