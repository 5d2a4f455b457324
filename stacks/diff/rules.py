"""Transition rules: a change judged against BASE, the state it starts from.

The configuration model judges one state; these rules judge a move between two, which only a diff can see (the
active colour removed in the same change that switches to another, a colour switched to before its nodes exist).
One small pure function per rule; each finding names the rule, the resource, what goes wrong at run time and the
fix. ``unsafe`` findings make ``stacks diff`` exit 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from components.facts import LABEL_COLOUR, LABEL_GROUP, LABEL_ROLE
from components.gpu_skus import gpu_sku
from policies.rules.platform import STATEFUL_TYPES
from stacks.diff.compare import Step, value_changes
from stacks.diff.sides import Resource, Side
from stacks.diff.triggers import AGENT_POOL, MANAGED_CLUSTER

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
K8S_STATEFUL = ("kubernetes:core/v1:Namespace", "kubernetes:core/v1:PersistentVolumeClaim")


@dataclass(frozen=True)
class Finding:
    rule: str
    urn: str
    name: str
    message: str
    fix: str
    severity: str = "unsafe"

    def to_json(self) -> dict[str, str]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "urn": self.urn,
            "name": self.name,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass
class Context:
    base: Side
    head: Side
    steps: list[Step]

    def by_op(self, *ops: str) -> Iterator[Step]:
        return (s for s in self.steps if s.op in ops)

    def step(self, urn: str) -> Step | None:
        return next((s for s in self.steps if s.urn == urn), None)


# --------------------------------------------------------------------------------------------------------
# What a pool and a workload look like in plan inputs
# --------------------------------------------------------------------------------------------------------


def _labels(pool: Resource) -> dict[str, Any]:
    labels = pool.inputs.get("nodeLabels")
    return labels if isinstance(labels, dict) else {}


def _group_key(step_cluster: str, pool: Resource) -> tuple[str, str] | None:
    group = _labels(pool).get(LABEL_GROUP)
    return (step_cluster, str(group)) if group else None


def _selector(deployment: Resource) -> dict[str, Any]:
    spec = ((deployment.inputs.get("spec") or {}).get("template") or {}).get("spec") or {}
    selector = spec.get("nodeSelector")
    return selector if isinstance(selector, dict) else {}


def _claim_templates(deployment: Resource) -> list[str]:
    spec = ((deployment.inputs.get("spec") or {}).get("template") or {}).get("spec") or {}
    return sorted(
        str(c.get("resourceClaimTemplateName")) for c in spec.get("resourceClaims") or [] if isinstance(c, dict)
    )


def _selects(deployment: Resource, pool: Resource) -> bool:
    selector, labels = _selector(deployment), _labels(pool)
    return bool(selector) and LABEL_GROUP in selector and all(labels.get(k) == v for k, v in selector.items())


def _workloads_on(side: Side, pool: Resource) -> list[Resource]:
    return [r for r in side.resources.values() if r.type == DEPLOYMENT and _selects(r, pool)]


def _gpu(pool: Resource) -> tuple[str, str]:
    vm_size = str(pool.inputs.get("vmSize") or "")
    sku = gpu_sku(vm_size)
    return (sku.gpu.name if sku is not None else vm_size, str(pool.inputs.get("gpuInstanceProfile") or "whole GPUs"))


def _pools(side: Side) -> list[Resource]:
    return [r for r in side.resources.values() if r.type == AGENT_POOL]


def _names(resources: list[Resource]) -> str:
    return ", ".join(sorted(r.name for r in resources))


# --------------------------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------------------------


def serving_pool_removed(ctx: Context) -> Iterator[Finding]:
    """Deleting or replacing a pool that BASE workloads are scheduled on strands them until it is back."""
    for step in ctx.by_op("delete", "replace"):
        if step.type != AGENT_POOL or step.base is None:
            continue
        served = _workloads_on(ctx.base, step.base)
        if served:
            verb = "deletes" if step.op == "delete" else "replaces"
            yield Finding(
                "serving-pool-removed",
                step.urn,
                step.name,
                f"{verb} AgentPool {step.base.inputs.get('agentPoolName')} while {_names(served)} run on it: "
                "their pods are evicted with its nodes",
                "move the workloads first: switch gpuPools.<group>.active to the other colour in its own change, "
                "wait for the rollout, then remove or rebuild this slot",
            )


def active_colour_removed(ctx: Context) -> Iterator[Finding]:
    """BASE's active colour deleted in this change, even when HEAD switches to another colour at the same time."""
    for step in ctx.by_op("delete"):
        if step.type != AGENT_POOL or step.base is None or _labels(step.base).get(LABEL_ROLE) != "active":
            continue
        yield Finding(
            "active-colour-removed",
            step.urn,
            step.name,
            f"deletes {step.base.inputs.get('agentPoolName')}, the active colour in BASE: work on it has nowhere "
            "to go while the new colour is switched to in the same update",
            "switch active to the other colour in one change (runbook step 3), drain and scale the old colour down "
            "(steps 4 and 6), and delete its slot in a later change (step 7)",
        )


def switch_without_capacity(ctx: Context) -> Iterator[Finding]:
    """A colour becoming active must already exist in BASE with nodes (minCount >= 1) and serve the same GPUs."""
    base_pools = {r.urn: r for r in _pools(ctx.base)}
    for step in ctx.steps:
        if step.type != AGENT_POOL or step.head is None or _labels(step.head).get(LABEL_ROLE) != "active":
            continue
        before = base_pools.get(step.urn)
        if before is not None and _labels(before).get(LABEL_ROLE) == "active":
            continue  # already active: no switch
        pool = str(step.head.inputs.get("agentPoolName"))
        group = _labels(step.head).get(LABEL_GROUP)
        old_active = [
            p
            for p in base_pools.values()
            if _labels(p).get(LABEL_GROUP) == group and _labels(p).get(LABEL_ROLE) == "active" and p.urn != step.urn
        ]
        if not old_active:
            continue  # a new group: nothing to switch from
        if before is None:
            yield Finding(
                "switch-without-capacity",
                step.urn,
                step.name,
                f"switches {group} to {pool}, which this same change creates: workloads move before any of its "
                "nodes is Ready",
                f"add slot {_labels(step.head).get(LABEL_COLOUR)} as standby with minCount >= 1 first (runbook "
                "step 1), wait for its nodes (step 2), then switch",
            )
            continue
        min_count = before.inputs.get("minCount")
        if isinstance(min_count, int) and min_count < 1:
            yield Finding(
                "switch-without-capacity",
                step.urn,
                step.name,
                f"switches {group} to {pool}, which has minCount {min_count} in BASE: it may have no nodes when "
                "the workloads move to it",
                f"raise slots.{_labels(step.head).get(LABEL_COLOUR)}.minCount to >= 1 in its own change (runbook "
                "step 1), wait for Ready nodes, then switch",
            )
        old = old_active[0]
        if _gpu(old) != _gpu(before):
            stuck = [
                w
                for w in _workloads_on(ctx.base, old)
                if (after := ctx.head.resources.get(w.urn)) is not None
                and _claim_templates(after) == _claim_templates(w)
            ]
            if stuck:
                gpu_old, mig_old = _gpu(old)
                gpu_new, mig_new = _gpu(before)
                yield Finding(
                    "switch-gpu-mismatch",
                    step.urn,
                    step.name,
                    f"switches {group} from {gpu_old} ({mig_old}) to {gpu_new} ({mig_new}) while "
                    f"{_names(stuck)} still claim the devices of the old colour",
                    "give those models a sharing profile the new colour serves (their claim templates change with "
                    "it), or keep the old colour active",
                )


def inline_and_pools_together(ctx: Context) -> Iterator[Finding]:
    """The inline system pool and AgentPools of one cluster changed in one update (azure-native #2719, #4264)."""
    for step in ctx.by_op("update", "refuse"):
        if step.type != MANAGED_CLUSTER:
            continue
        inline = [c.path for c in step.changes if c.path.startswith("agentPoolProfiles")]
        if not inline:
            continue
        pools = [
            s
            for s in ctx.steps
            if s.type == AGENT_POOL and s.cluster == step.cluster and s.op in ("create", "update", "replace", "delete")
        ]
        if pools:
            yield Finding(
                "inline-and-agentpools-together",
                step.urn,
                step.name,
                f"changes the inline system pool ({', '.join(inline[:3])}) and AgentPools "
                f"{', '.join(sorted(s.name for s in pools))} in one update: the cluster PUT re-sends every pool and "
                "races the AgentPool operations (pulumi-azure-native#2719, #4264)",
                "split it: change the system pool in one pull request and the GPU pools in the next",
            )


def cluster_replaced(ctx: Context) -> Iterator[Finding]:
    for step in ctx.by_op("replace"):
        if step.type != MANAGED_CLUSTER:
            continue
        why = "; ".join(f"{c.path}: {c.trigger.why}" for c in step.replace_reasons if c.trigger is not None)
        yield Finding(
            "cluster-replaced",
            step.urn,
            step.name,
            f"replaces the cluster ({why}): every pool, workload and in-cluster object is recreated",
            "revert the change; a new network profile needs a new cluster key (build it next to this one, move the "
            "workloads, then remove the old cluster)",
        )


def immutable_changed(ctx: Context) -> Iterator[Finding]:
    """An in-place update the cloud refuses (the provider does not replace it): ``pulumi up`` fails there."""
    for step in ctx.by_op("refuse"):
        paths = "; ".join(f"{c.path}: {c.trigger.why}" for c in step.replace_reasons if c.trigger is not None)
        yield Finding(
            "immutable-property-changed",
            step.urn,
            step.name,
            f"changes what cannot change in place ({paths}); the update is refused and nothing is replaced",
            "make the change on a new resource: for a GPU pool, the other blue-green colour (README runbook); "
            "for a claim template, a new template name",
        )


def replace_name_collision(ctx: Context) -> Iterator[Finding]:
    """A create-before-delete replacement of an AgentPool keeps its name: AKS refuses the second pool."""
    for step in ctx.by_op("replace"):
        if step.type != AGENT_POOL or step.head is None or step.base is None or step.head.delete_before_replace:
            continue
        if step.head.inputs.get("agentPoolName") != step.base.inputs.get("agentPoolName"):
            continue
        reasons = ", ".join(c.path for c in step.replace_reasons)
        yield Finding(
            "pool-replaced-in-place",
            step.urn,
            step.name,
            f"replaces AgentPool {step.head.inputs.get('agentPoolName')} ({reasons}) create-before-delete under the "
            "same name: the create fails (the name is taken) and nothing changes",
            "change VM size or MIG profile through the other colour (README runbook), never on an existing slot",
        )


def protected_or_stateful_deleted(ctx: Context) -> Iterator[Finding]:
    for step in ctx.by_op("delete", "replace"):
        base = step.base
        if base is None or base.retain_on_delete:
            continue
        stateful = base.type in STATEFUL_TYPES or base.type in K8S_STATEFUL
        if not (base.protect or stateful) or (base.type == MANAGED_CLUSTER and step.op == "replace"):
            continue  # a replaced cluster has its own rule
        what = "protected" if base.protect else "stateful"
        verb = "deletes" if step.op == "delete" else "replaces"
        yield Finding(
            "stateful-deleted",
            step.urn,
            step.name,
            f"{verb} {what} {base.type.rsplit(':', 1)[-1]} {base.name}"
            + (" (Pulumi refuses to delete a protected resource: the update fails)" if base.protect else "")
            + ": what it holds is lost",
            "keep it; if it must go, remove it in a change of its own after `pulumi state unprotect` and a backup",
        )


def _identity(resource: Resource) -> tuple[Any, ...]:
    """What names a resource physically (Azure: its name parameters; Kubernetes: namespace and name)."""
    if resource.type.startswith("kubernetes:"):
        meta = resource.inputs.get("metadata") or {}
        return (resource.type, meta.get("namespace"), meta.get("name"))
    keys = sorted(k for k in resource.inputs if k.endswith("Name") and k != "resourceGroupName")
    return (resource.type, *(resource.inputs.get(k) for k in keys))


def _leaves(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_leaves(v) for v in value.values())
    if isinstance(value, list):
        return sum(_leaves(v) for v in value)
    return 1


def _similar(old: Resource, new: Resource) -> bool:
    """Inputs that differ only in a few leaves (names built from a renamed key): at most a fifth of them."""
    return len(value_changes(old.inputs, new.inputs)) * 5 <= max(_leaves(old.inputs), 1)


def rename_recreates(ctx: Context) -> Iterator[Finding]:
    """A delete and a create of the same resource under a new URN: a rename without an alias."""
    created = [(s, s.head) for s in ctx.by_op("create") if s.head is not None]
    for step in ctx.by_op("delete"):
        old = step.base
        if old is None:
            continue
        key = _identity(old)
        named = any(v is not None for v in key[1:])
        twin = next((c for c, new in created if named and _identity(new) == key), None)
        if twin is None:
            twin = next(
                (
                    c
                    for c, new in created
                    if c.type == step.type and c.component == step.component and _similar(old, new)
                ),
                None,
            )
        if twin is None:
            continue
        yield Finding(
            "rename-recreates",
            step.urn,
            step.name,
            f"deletes {step.name} and creates {twin.name}, the same {step.type.rsplit(':', 1)[-1]} under a new "
            "name: it is destroyed and rebuilt",
            f"keep the old identity: add an alias to {step.urn} on the renamed resource (for a GPU pool group: "
            "gpuPools.<group>.renamedFrom: <old key>)",
        )


RULES: tuple[Callable[[Context], Iterator[Finding]], ...] = (
    serving_pool_removed,
    active_colour_removed,
    switch_without_capacity,
    inline_and_pools_together,
    cluster_replaced,
    immutable_changed,
    replace_name_collision,
    protected_or_stateful_deleted,
    rename_recreates,
)
RULE_NAMES = (
    "serving-pool-removed",
    "active-colour-removed",
    "switch-without-capacity",
    "switch-gpu-mismatch",
    "inline-and-agentpools-together",
    "cluster-replaced",
    "immutable-property-changed",
    "pool-replaced-in-place",
    "stateful-deleted",
    "rename-recreates",
)


def judge(base: Side, head: Side, steps: list[Step]) -> list[Finding]:
    ctx = Context(base, head, steps)
    return [finding for rule in RULES for finding in rule(ctx)]
