"""What-if fit: one model deployment a person is considering, against every pool and sharing profile of a cluster.

The page asks "where would this model run, on how many GPUs, at what cost?" before anything is in the stack
file. The answer is the serving fit analysis itself (:mod:`components.serving.fit`), run on the stack's
validated configuration with the candidate deployment added:

* every (pool group, colour, sharing profile) the cluster offers is evaluated by ``candidates`` (memory per
  GPU, TP, compute capability, the team's allowed profiles);
* every option that fits in memory is then pinned (``pool``/``profile``) and the whole stack re-analysed by
  ``analyse``, so the team's quota, the pool's ``maxCount`` (with the rollout surge), node disk and
  load-time quantization are judged exactly as ``stacks plan`` would judge the edited file;
* standby colours are listed too, never as fits: placement uses the active colour only.

The cheapest option costs least per replica (the fit's ranking); the fewest-GPU option holds the smallest share
of physical GPUs; the default is where the analysis puts the deployment when nothing is pinned (its stack-wide
packing may prefer a GPU another deployment already holds), so a change pins ``pool``/``profile`` exactly when
the chosen option is not that one. No fit arithmetic lives here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, cast

from pydantic import TypeAdapter, ValidationError

from components.dra import offers_for
from components.pricing import PriceTable, price_table
from components.serving import ModelDeploymentSpec, analyse
from components.serving.fit import Candidate, Fit, _rank, candidates, colour_view
from components.serving.workload import load_issues
from stacks.config import PlatformConfig, format_errors

MODEL_FIELDS = (
    "team",
    "cluster",
    "model",
    "params",
    "precision",
    "source",
    "hfToken",
    "contextLength",
    "concurrency",
    "replicas",
)
"""The ``models.<name>`` keys the page edits, in the order it writes them. ``model`` (a catalog key) and
``params`` (an imported config.json's architecture, ``ModelParams``) are exclusive: the one the request gives
replaces the other."""
KEPT_UNLESS_SENT = ("hfToken",)
"""Managed keys a request that does not mention them leaves as the file has them (an API client that predates
the field must not drop a token key); the page always sends them, an empty value removes the key."""
MODEL_KINDS = ("model", "params")


_MODELS: TypeAdapter[dict[str, ModelDeploymentSpec]] = TypeAdapter(
    cast(Any, PlatformConfig.model_fields["models"].annotation)
)
"""The root model's ``models`` map (its key pattern and ModelDeploymentSpec), to check one entry alone."""


@dataclass
class WhatIf:
    """The answer for one request: field errors, or every option with its numbers and verdict."""

    name: str
    entry: dict[str, Any]
    errors: list[str] = field(default_factory=list)
    options: list[dict[str, Any]] = field(default_factory=list)
    cheapest: str | None = None
    fewest_gpus: str | None = None
    default: str | None = None
    """The option the analysis chooses when the change pins no pool/profile."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "entry": self.entry,
            "errors": self.errors,
            "options": self.options,
            "cheapest": self.cheapest,
            "fewestGpus": self.fewest_gpus,
            "default": self.default,
        }


def model_entry(request: dict[str, Any], existing: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``models.<name>`` map the request describes, keys in stack-file order, empty values left out.

    ``existing``: the entry as the stack file has it now. Its keys the page does not manage (``kvCacheDtype``,
    ``image``, ...) stay, in their place; the managed ones take the request's values. A request that names
    neither ``model`` nor ``params`` keeps the existing one (editing a params-model keeps its params), and
    ``hfToken`` stays unless the request sends it.
    """
    managed = (*MODEL_FIELDS, "pool", "profile")
    wanted: dict[str, Any] = {}
    for key in managed:
        value = request.get(key)
        if value is None or value in ("", {}):
            continue
        if key in ("contextLength", "concurrency", "replicas") and isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        wanted[key] = value
    kept = {k for k in KEPT_UNLESS_SENT if k not in request}
    if not any(k in wanted for k in MODEL_KINDS):
        kept.update(MODEL_KINDS)
    entry: dict[str, Any] = {}
    for old_key, value in (existing or {}).items():
        key = old_key
        if key in MODEL_KINDS and key not in wanted and key not in kept:
            key = next(k for k in MODEL_KINDS if k != key)  # model <-> params: the new one takes the old place
            if key not in wanted:
                continue
        if key not in managed or key in wanted or key in kept:
            entry[key] = wanted.get(key, value)
    entry.update((k, v) for k, v in wanted.items() if k not in entry)
    return entry


def option_id(pool_group: str, colour: str, profile: str) -> str:
    return f"{pool_group}/{colour}/{profile}"


def what_if(
    cfg: PlatformConfig, source: str, name: str, request: dict[str, Any], existing: dict[str, Any] | None = None
) -> WhatIf:
    """Evaluate ``request`` (the page's form: model, team, cluster, precision, context, concurrency, replicas)
    as ``models.<name>`` of ``cfg`` against every pool and sharing profile of its cluster (``existing``: the
    entry the file has for ``name`` now, whose other keys count too)."""
    entry = model_entry({k: v for k, v in request.items() if k not in ("pool", "profile")}, existing)
    result = WhatIf(name, entry)
    result.errors = _entry_errors(cfg, source, name, entry)
    if result.errors:
        return result
    spec = ModelDeploymentSpec.model_validate(entry)
    cluster = cfg.clusters[spec.cluster]
    table = price_table(cfg.pricing)
    team = cfg.teams[spec.team]
    allowed = set(team.profiles)
    active = candidates(spec, colour_view(cluster), offers_for(cfg.dra, colour_view(cluster)), table, allowed)
    standby_view = colour_view(cluster, standby=True)
    standby = candidates(spec, standby_view, offers_for(cfg.dra, standby_view), table, allowed)
    ranked = sorted((c for c in active if c.fits), key=_rank)
    result.default = _default(cfg, table, name, spec)
    for candidate in active:
        result.options.append(_option(cfg, table, name, spec, candidate))
    for candidate in standby:
        option = _option(cfg, table, name, spec, candidate, analyse_stack=False)
        group = cluster.gpu_pools[candidate.pool_group]
        option["fits"] = False
        option["reasons"] = [
            f"standby colour {candidate.slot.colour} of {candidate.pool_group}: models are placed on the active "
            f"colour ({group.active}) only; switch clusters.{spec.cluster}.gpuPools.{candidate.pool_group}.active "
            "first (README, blue-green runbook)",
            *option["reasons"],
        ]
        result.options.append(option)
    fitting = [o for o in result.options if o["fits"]]
    if fitting:
        by_rank = {_id(c): i for i, c in enumerate(ranked)}
        cheapest = min(fitting, key=lambda o: by_rank.get(o["id"], len(by_rank)))
        fewest = min(fitting, key=lambda o: (o["gpus"], o["monthlyUsd"] if o["monthlyUsd"] is not None else 1e18))
        result.cheapest, result.fewest_gpus = cheapest["id"], fewest["id"]
        for option in result.options:
            option["cheapest"] = option["id"] == result.cheapest
            option["fewestGpus"] = option["id"] == result.fewest_gpus
    return result


def _default(cfg: PlatformConfig, table: PriceTable, name: str, spec: ModelDeploymentSpec) -> str | None:
    """Where ``stacks plan`` puts the deployment when the change pins nothing: the stack-wide packing's choice
    (fewest GPUs, then cost: a deployment may join a GPU another one already holds rather than take the
    cheapest-per-replica offer), or None when the plan would refuse it."""
    plan, issues = analyse(replace(cfg.serving, models={**cfg.models, name: spec}), table)
    if any(tuple(i.path[:2]) == ("models", name) for i in issues):
        return None
    chosen = plan.fits[name].chosen if name in plan.fits else None
    return _id(chosen) if chosen is not None else None


def _id(candidate: Candidate) -> str:
    return option_id(candidate.pool_group, candidate.slot.colour, candidate.profile)


def _entry_errors(cfg: PlatformConfig, source: str, name: str, entry: dict[str, Any]) -> list[str]:
    """The lines ``stacks plan`` would print for this entry alone (spec, name, team and cluster references)."""
    prefix = ("models", name)
    errors: list[str] = []
    try:
        # The models map's key pattern, checked the way the root model checks it.
        _MODELS.validate_python({name: entry})
    except ValidationError as exc:
        errors.extend(format_errors(exc, source, ("models",)))
        return errors
    spec = ModelDeploymentSpec.model_validate(entry)
    if spec.team not in cfg.teams:
        errors.append(
            f"{source}: ai-platform:{'.'.join(prefix)}.team: names a team that is not declared under teams "
            f"(got {spec.team!r}; allowed: {', '.join(sorted(cfg.teams)) or '(no teams declared)'}). "
            "Fix: add the team under teams"
        )
    if spec.cluster not in cfg.clusters:
        errors.append(
            f"{source}: ai-platform:{'.'.join(prefix)}.cluster: names a cluster that does not exist "
            f"(got {spec.cluster!r}; allowed: {', '.join(sorted(cfg.clusters))}). Fix: use one of the stack's "
            "cluster ids"
        )
    return errors


def _gpu_share(candidate: Candidate, replicas: int) -> float:
    """Physical GPUs the deployment holds: TP whole GPUs per replica, or its slices' / shares' part of a GPU."""
    if candidate.kind in ("mig", "timeShared"):
        return replicas / candidate.per_gpu
    return float(candidate.tp * replicas)


def _throughput(name: str, spec: ModelDeploymentSpec, candidate: Candidate) -> dict[str, Any] | None:
    """The fit's own throughput of one replica on ``candidate`` (a time-shared GPU counted as fully shared)."""
    tenants = candidate.per_gpu if candidate.kind == "timeShared" else 1
    t = Fit(name, spec, [candidate], candidate, tenants=tenants).throughput
    if t is None:
        return None
    return {
        "tokensPerSecond": round(t.decode_tokens_per_second, 1),
        "sequenceTokensPerSecond": round(t.sequence_tokens_per_second, 1),
        "maxSequences": t.max_sequences,
        "usdPerMillionTokens": round(t.usd_per_million_tokens, 3) if t.usd_per_million_tokens else None,
        "bandwidthGBps": round(t.bandwidth_gbs, 1),
    }


def _option(
    cfg: PlatformConfig,
    table: PriceTable,
    name: str,
    spec: ModelDeploymentSpec,
    candidate: Candidate,
    analyse_stack: bool = True,
) -> dict[str, Any]:
    est = candidate.estimate
    hours = table.hours_per_month
    hourly = candidate.hourly_usd_per_replica
    throughput = _throughput(name, spec, candidate) if est else None
    reasons = [candidate.reason] if candidate.reason else []
    if est is not None and candidate.reason.startswith("does not fit"):
        # The fit analysis says "does not fit"; the page shows its numbers.
        reasons = [
            f"needs {est.total_gib:.1f} GiB per GPU at TP={est.tp} but {candidate.budget_gib:.1f} GiB is available "
            f"({candidate.device_memory_gib:g} GiB x {candidate.utilisation:g})"
            + candidate.reason.removeprefix("does not fit")
        ]
    nodes: dict[str, int] | None = None
    fits = candidate.fits
    if fits and analyse_stack:
        pinned = spec.model_copy(update={"pool": candidate.pool_group, "profile": candidate.profile})
        trial = replace(cfg.serving, models={**cfg.models, name: pinned})
        plan, issues = analyse(trial, table)
        fit = plan.fits[name]
        issues = [*issues, *load_issues([fit])]
        mine = [i for i in issues if tuple(i.path[:2]) == ("models", name)]
        reasons.extend(f"{'.'.join(str(p) for p in i.path[2:]) or name}: {i.problem}" for i in mine)
        fits = not mine
        bucket = next(
            (
                p
                for p in plan.placements
                if (p.cluster, p.pool_group, p.profile) == (spec.cluster, candidate.pool_group, candidate.profile)
            ),
            None,
        )
        if bucket is not None:
            nodes = {"nodes": bucket.nodes, "maxNodes": bucket.max_nodes, "surgeNodes": bucket.surge_nodes}
    return {
        "id": _id(candidate),
        "pool": candidate.pool_group,
        "colour": candidate.slot.colour,
        "active": candidate.slot.active if analyse_stack else False,
        "profile": candidate.profile,
        "kind": candidate.kind,
        "vmSize": candidate.sku.vm_size,
        "gpuModel": candidate.sku.gpu.name,
        "neededGibPerGpu": round(est.total_gib, 2) if est else None,
        "availableGibPerGpu": round(candidate.budget_gib, 2),
        "deviceMemoryGib": candidate.device_memory_gib,
        "tensorParallel": candidate.tp,
        "replicas": spec.replicas,
        "devices": candidate.tp * spec.replicas,
        "gpus": round(_gpu_share(candidate, spec.replicas), 3),
        "throughput": throughput,
        "monthlyUsd": round(hourly * spec.replicas * hours, 2) if hourly is not None else None,
        "nodes": nodes,
        "fits": fits,
        "reasons": reasons,
        "cheapest": False,
        "fewestGpus": False,
    }
