"""Message and lookup helpers shared by the rule modules (one wording for every rule)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

from components.gpu_skus import GpuSku, gpu_sku
from policies.engine import CLUSTER, UNKNOWN, UNSET, Finding, Resource, lookup


def show(value: Any) -> str:
    if value is UNSET:
        return "unset"
    if value is UNKNOWN:
        return "unknown"
    if isinstance(value, str):
        return repr(value)
    return json.dumps(value, default=str, sort_keys=True)


def problem(resource: Resource, prop: str, got: Any, expected: str, fix: str, default_note: str = "") -> Finding:
    """The one message shape: who, which property, what it is, what it must be, how to fix it."""
    shown = show(got)
    if got is UNSET and default_note:
        shown = f"unset (Azure default: {default_note})"
    return Finding(f"{resource.label}: {prop} is {shown}; expected {expected}. Fix: {fix}")


def at(finding: Finding, urn: str) -> Finding:
    """``finding`` reported on ``urn``: what a stack rule does with a resource's message."""
    return dataclasses.replace(finding, urn=urn)


def unknown(resource: Resource, prop: str, expected: str) -> Finding:
    return Finding(f"{resource.label}: {prop} is not known before deployment; expected {expected}", unknown=True)


def expect(
    resource: Resource,
    prop: str,
    ok: Callable[[Any], bool],
    expected: str,
    fix: str,
    default: Any = UNSET,
    default_note: str = "",
    source: Any = None,
    prefix: str = "",
) -> Iterator[Finding]:
    """Judge ``prop``: an unset property counts as ``default`` (its effective Azure default).

    ``source``/``prefix`` judge a nested object (an inline pool) while naming its full path.
    """
    inputs = resource.inputs if source is None else source
    value = lookup(inputs, prop, default)
    shown_prop = f"{prefix}.{prop}" if prefix else prop
    if value is UNKNOWN:
        yield unknown(resource, shown_prop, expected)
        return
    if not ok(value):
        shown = UNSET if lookup(inputs, prop) is UNSET else value
        yield problem(resource, shown_prop, shown, expected, fix, default_note)


def pools_of(resource: Resource) -> list[tuple[str, Any]]:
    """``(path prefix, pool inputs)``: the AgentPool itself, or each inline pool of a ManagedCluster."""
    if resource.type == CLUSTER:
        return inline_pools(resource)
    return [("", resource.inputs)]


def is_true(value: Any) -> bool:
    return value is True


def pool_sku(resource: Resource) -> GpuSku | None:
    size = resource.get("vmSize")
    return gpu_sku(size) if isinstance(size, str) else None


def inline_pools(cluster: Resource) -> list[tuple[str, Any]]:
    """``(prop path, profile)`` for each inline pool of a ManagedCluster."""
    profiles = cluster.get("agentPoolProfiles", [])
    if not isinstance(profiles, list):
        return []
    return [(f"agentPoolProfiles[{i}]", p) for i, p in enumerate(profiles)]


def minor(version: Any) -> int | None:
    """The minor of a Kubernetes version string ("1.34" or "1.34.2"), None if it cannot be read."""
    if not isinstance(version, str):
        return None
    parts = version.split(".")
    try:
        return int(parts[1]) if len(parts) >= 2 and parts[0] == "1" else None
    except ValueError:
        return None
