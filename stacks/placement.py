"""Where a pod can land: a node pool's labels, taints and GPU devices against the pod's scheduling terms.

Pure functions over plan inputs (an ``AgentPool`` or a ManagedCluster's inline pool, a pod template spec):
node selector, required node affinity, taints and tolerations, extended GPU resources (device plugin), and
DRA device requests whose DeviceClass CEL selectors are evaluated against the devices the pool's VM size
publishes (``components/gpu_skus.py``: product name, MIG slice names and counts). The rehearsal
(:mod:`stacks.rehearsal`) uses them to find workloads that can never schedule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from components.facts import AMD_DRIVER, LABEL_ALLOCATION, NVIDIA_DRIVER
from components.gpu_skus import gpu_sku

GPU_RESOURCES = {"nvidia.com/gpu": "nvidia", "amd.com/gpu": "amd"}
CHART_DEVICE_CLASSES = {
    # Created by the driver charts, not by the program (README "GPU allocation").
    "gpu.nvidia.com": {"driver": NVIDIA_DRIVER, "type": "gpu"},
    "mig.nvidia.com": {"driver": NVIDIA_DRIVER, "type": "mig"},
    "gpu.amd.com": {"driver": AMD_DRIVER},
}


@dataclass(frozen=True)
class Pool:
    urn: str
    """The AgentPool, or the ManagedCluster for an inline pool (ready when the cluster is)."""
    name: str
    labels: dict[str, str]
    taints: list[tuple[str, str, str]]
    vm_size: str
    mig_profile: str | None
    min_count: int
    max_count: int

    def devices(self) -> tuple[dict[str, str], int] | None:
        """DRA attributes of the devices one node publishes and how many, or None when it publishes none."""
        sku = gpu_sku(self.vm_size)
        if sku is None or self.labels.get(LABEL_ALLOCATION, "dra") != "dra":
            return None
        if sku.gpu.vendor == "amd":
            return {"driver": AMD_DRIVER, "productName": sku.gpu.product_name, "type": "amdgpu"}, sku.gpu_count
        attrs = {"driver": NVIDIA_DRIVER, "productName": sku.gpu.product_name, "type": "gpu"}
        count = sku.gpu_count
        mig = sku.gpu.mig.get(self.mig_profile) if self.mig_profile else None  # type: ignore[call-overload]
        if mig is not None:
            attrs |= {"type": "mig", "profile": mig.name}
            count *= mig.per_gpu
        return attrs, count


def _taint(text: str) -> tuple[str, str, str]:
    kv, _, effect = text.partition(":")
    key, _, value = kv.partition("=")
    return key, value, effect


def as_int(value: Any, default: int) -> int:
    return int(value) if isinstance(value, (int, float)) else default


def pool_from_inputs(urn: str, inputs: Mapping[str, Any], name: str) -> Pool:
    labels = {str(k): str(v) for k, v in (inputs.get("nodeLabels") or {}).items()}
    vm_size = str(inputs.get("vmSize") or "")
    pool_name = str(inputs.get("agentPoolName") or inputs.get("name") or name)
    # Labels AKS puts on every node (AKS docs "Use labels in an AKS cluster": well-known labels).
    labels |= {
        "kubernetes.azure.com/agentpool": pool_name,
        "agentpool": pool_name,
        "node.kubernetes.io/instance-type": vm_size,
        "kubernetes.io/os": str(inputs.get("osType") or "Linux").lower(),
    }
    taints = [_taint(str(t)) for t in inputs.get("nodeTaints") or []]
    if str(inputs.get("scaleSetPriority") or "") == "Spot":
        # AKS taints spot nodes itself (components/_common.py SPOT_TAINT).
        taints.append(("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule"))
    count = as_int(inputs.get("count"), 1)
    autoscaled = bool(inputs.get("enableAutoScaling"))
    min_count = as_int(inputs.get("minCount"), count) if autoscaled else count
    max_count = as_int(inputs.get("maxCount"), count) if autoscaled else count
    return Pool(urn, pool_name, labels, taints, vm_size, inputs.get("gpuInstanceProfile"), min_count, max_count)


def tolerates(tolerations: list[Mapping[str, Any]], taint: tuple[str, str, str]) -> bool:
    key, value, effect = taint
    if effect not in ("NoSchedule", "NoExecute"):
        return True  # PreferNoSchedule never blocks
    for t in tolerations:
        if t.get("effect") and t.get("effect") != effect:
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t.get("key") == key):
            return True
        if t.get("key") == key and t.get("operator", "Equal") == "Equal" and str(t.get("value", "")) == value:
            return True
    return False


def affinity_ok(pod: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Required node affinity (nodeSelectorTerms are ORed, their matchExpressions ANDed)."""
    required = ((pod.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return True

    def matches(expr: Mapping[str, Any]) -> bool:
        key, op, values = expr.get("key"), expr.get("operator"), [str(v) for v in expr.get("values") or []]
        present = key in labels
        if op == "In":
            return present and labels[str(key)] in values
        if op == "NotIn":
            return not present or labels[str(key)] not in values
        if op == "Exists":
            return present
        if op == "DoesNotExist":
            return not present
        return True  # Gt/Lt: not used by the blueprint; do not claim it fails

    return any(all(matches(e) for e in term.get("matchExpressions") or []) for term in terms)


_CLAUSE = re.compile(r"^\(?\s*device\.(driver|attributes\['([^']+)'\]\.(\w+))\s*==\s*'([^']*)'\s*\)?$")


def cel_matches(expression: str, attrs: Mapping[str, str]) -> bool | None:
    """Evaluate a DeviceClass selector made of ``&&``-joined equalities; None when it has other forms."""
    if "||" in expression or "!" in expression.replace("!=", "") or "!=" in expression:
        return None
    for clause in expression.split("&&"):
        m = _CLAUSE.match(clause.strip())
        if m is None:
            return None
        field_, domain, attribute, value = m.groups()
        if field_ == "driver":
            if attrs.get("driver") != value:
                return False
        elif domain != attrs.get("driver") or attrs.get(attribute) != value:
            return False  # an attribute of another driver's domain, or missing: no match
    return True


def pool_reasons(
    pool: Pool,
    pod: Mapping[str, Any],
    gpus: dict[str, int],
    requests: list[dict[str, Any]],
    device_class: Callable[[str], list[str] | dict[str, str] | None],
) -> list[str]:
    """Why the pod cannot land on a node of this pool (empty: it can).

    ``requests``: the pod's DRA device requests (``class``, ``count``, or a ``problem``); ``device_class``: a
    class name's CEL selectors (or the attributes of a chart-created class), None when nothing creates it.
    """
    reasons: list[str] = []
    selector = {str(k): str(v) for k, v in (pod.get("nodeSelector") or {}).items()}
    if any(pool.labels.get(k) != v for k, v in selector.items()):
        reasons.append("node selector does not match its labels")
    if not affinity_ok(pod, pool.labels):
        reasons.append("required node affinity does not match")
    untolerated = [t for t in pool.taints if not tolerates(list(pod.get("tolerations") or []), t)]
    if untolerated:
        reasons.append("untolerated taint " + ", ".join(f"{k}={v}:{e}" for k, v, e in untolerated))
    if pool.max_count < 1:
        reasons.append("it has no nodes (maxCount 0)")
    sku = gpu_sku(pool.vm_size)
    for resource, vendor in GPU_RESOURCES.items():
        if resource in gpus:
            if sku is None or sku.gpu.vendor != vendor or pool.labels.get(LABEL_ALLOCATION) == "dra":
                reasons.append(f"no {resource} device plugin")
            elif gpus[resource] > sku.gpu_count:
                reasons.append(f"{gpus[resource]} x {resource} per pod, {sku.gpu_count} per node")
    devices = pool.devices()
    for req in requests:
        if "problem" in req:
            reasons.append(req["problem"])
            continue
        selector_ = device_class(str(req["class"]))
        if selector_ is None:
            reasons.append(f"DeviceClass {req['class']} is not created by this stack")
            continue
        if devices is None:
            reasons.append(f"no DRA devices for {req['class']}")
            continue
        attrs, per_node = devices
        if isinstance(selector_, dict):
            ok: bool | None = all(attrs.get(k) == v for k, v in selector_.items())
        else:
            results = [cel_matches(e, attrs) for e in selector_]
            ok = None if None in results else all(results)
        if ok is False:
            reasons.append(
                f"its devices ({attrs.get('productName')} {attrs.get('profile', attrs['type'])}) are not {req['class']}"
            )
        elif req["count"] > per_node:
            reasons.append(f"{req['count']} x {req['class']} per pod, {per_node} per node")
    return reasons
