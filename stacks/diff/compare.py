"""Resource by resource: what HEAD does to BASE (create, update, replace, refuse, delete, same).

Inputs are compared path by path (``a.b``, ``a[2].c``); a list whose length changes is one change at its own path.
A change under one of HEAD's ``ignoreChanges`` paths is not a change (Pulumi keeps the old value). A value that
is unknown in a plan (``null``: it exists only after another resource is created) is not compared. Secrets are
``[secret]`` on both sides: two secrets compare equal (their values are never read), and a value that becomes or
stops being a secret is shown as ``[secret]``, never its content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stacks.diff.sides import SECRET, Resource, Side
from stacks.diff.triggers import Trigger, covered, option_trigger, triggers_for

OPS = ("create", "update", "replace", "refuse", "delete", "same")


SENSITIVE = {"kubernetes:core/v1:Secret": ("data", "stringData")}
"""Paths whose values are shown as ``[secret]`` even when a state file holds them in the clear."""


@dataclass
class Change:
    path: str
    old: Any
    new: Any
    trigger: Trigger | None = None
    secret: bool = False
    """Either side is (or holds) a secret: both are shown as ``[secret]``."""

    def shown(self) -> tuple[Any, Any]:
        if self.secret:
            return SECRET, SECRET
        return shown(self.old), shown(self.new)

    def to_json(self) -> dict[str, Any]:
        old, new = self.shown()
        result: dict[str, Any] = {"path": self.path, "old": old, "new": new}
        if self.trigger is not None:
            result["trigger"] = self.trigger.to_json()
        return result


@dataclass
class Step:
    op: str
    urn: str
    type: str
    name: str
    cluster: str
    component: str
    base: Resource | None
    head: Resource | None
    changes: list[Change] = field(default_factory=list)
    renamed_from: str | None = None
    """BASE's URN when HEAD's ``aliases`` option names it (a rename that keeps the resource)."""

    @property
    def replace_reasons(self) -> list[Change]:
        return [c for c in self.changes if c.trigger is not None and c.trigger.action == self.op]

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "op": self.op,
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "cluster": self.cluster,
            "component": self.component,
            "changes": [c.to_json() for c in self.changes],
        }
        if self.renamed_from is not None:
            result["renamedFrom"] = self.renamed_from
        if self.op == "replace" and self.head is not None:
            result["order"] = "deleteBeforeCreate" if self.head.delete_before_replace else "createBeforeDelete"
        if self.op == "delete" and self.base is not None:
            result["protect"] = self.base.protect
            result["retainOnDelete"] = self.base.retain_on_delete
        return result


def shown(value: Any) -> Any:
    """A value as the diff shows it: secrets stay ``[secret]`` wherever they sit."""
    if value == SECRET:
        return SECRET
    if isinstance(value, dict):
        return {k: shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown(v) for v in value]
    return value


def _holds_secret(value: Any) -> bool:
    if value == SECRET:
        return True
    if isinstance(value, dict):
        return any(_holds_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_secret(v) for v in value)
    return False


def value_changes(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Leaf-level differences between two input trees (unknown ``None`` on the HEAD side is not a change)."""
    if new is None and old is not None and path:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        result = []
        for key in sorted(old.keys() | new.keys(), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                result.append((sub, old[key], None))
            elif key not in old:
                result.append((sub, None, new[key]))
            else:
                result.extend(value_changes(old[key], new[key], sub))
        return result
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        result = []
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            result.extend(value_changes(a, b, f"{path}[{index}]"))
        return result
    if old == new:
        return []
    return [(path, old, new)]


def _owner(urn: str, resources: dict[str, Resource]) -> tuple[str, str]:
    """(top-level component name, nearest component type) of a resource, from its parent chain."""
    resource = resources.get(urn)
    parent = resources.get(resource.parent) if resource is not None and resource.parent else None
    component = parent.type.rsplit(":", 1)[-1] if parent is not None else "-"
    top, seen = resource, 0
    while top is not None and top.parent and top.parent in resources and seen < 64:
        top = resources[top.parent]
        seen += 1
    return (top.name if top is not None else urn.rsplit("::", 1)[-1]), component


def cluster_keys(side: Side) -> set[str]:
    return {r.name for r in side.resources.values() if r.type == "aiplatform:index:AksCluster"}


def _cluster_of(name: str, clusters: set[str], owner: str) -> str:
    """The cluster a resource belongs to: its AksCluster, or the cluster key its component names it after."""
    if owner in clusters:
        return owner
    for key in sorted(clusters, key=len, reverse=True):
        if name == key or name.startswith(f"{key}-") or f"-{key}-" in name or name.endswith(f"-{key}"):
            return key
    return "(stack)"


def compare(base: Side, head: Side) -> list[Step]:
    """One step per custom resource of either side, sorted by URN."""
    clusters = cluster_keys(base) | cluster_keys(head)
    olds = dict(base.resources)
    renamed: dict[str, str] = {}
    for urn, resource in head.resources.items():
        if urn in olds:
            continue
        previous = next((a for a in resource.aliases if a in olds and a not in head.resources), None)
        if previous is not None:
            olds[urn] = olds.pop(previous)
            renamed[urn] = previous
    steps = []
    for urn in sorted(olds.keys() | head.resources.keys()):
        old, new = olds.get(urn), head.resources.get(urn)
        current = new or old
        assert current is not None
        if not current.custom:
            continue
        owner, component = _owner(urn, head.resources if new else olds)
        cluster = _cluster_of(current.name, clusters, owner)
        step = Step("same", urn, current.type, current.name, cluster, component, old, new)
        step.renamed_from = renamed.get(urn)
        if old is None:
            step.op = "create"
        elif new is None:
            step.op = "delete"
        else:
            step.changes = _changes(old, new)
            ops = {c.trigger.action for c in step.changes if c.trigger is not None}
            step.op = (
                "replace" if "replace" in ops else "refuse" if "refuse" in ops else "update" if step.changes else "same"
            )
        steps.append(step)
    return steps


def _changes(old: Resource, new: Resource) -> list[Change]:
    result = []
    for path, a, b in value_changes(old.inputs, new.inputs):
        if covered(new.ignore_changes, path):
            continue
        trigger = option_trigger(path, new.replace_on_changes)
        if trigger is None:
            found = triggers_for(new.type, path)
            trigger = next((t for t in found if t.action == "replace"), found[0] if found else None)
        secret = _holds_secret(a) or _holds_secret(b) or covered(list(SENSITIVE.get(new.type, ())), path)
        result.append(Change(path, a, b, trigger, secret))
    for option, a, b in (
        ("protect", old.protect, new.protect),
        ("retainOnDelete", old.retain_on_delete, new.retain_on_delete),
    ):
        if a != b:
            result.append(Change(f"(option) {option}", a, b))
    return result
