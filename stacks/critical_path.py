"""The deploy critical path of a plan: the longest chain of waits, weighted by typical create times.

Model (what ``pulumi up`` of a brand-new stack waits for):

- A custom resource starts when every resource in its recorded ``dependencies`` (and its explicit
  ``provider``) has finished, and not before its parent has started. It finishes ``minutes`` later
  (:data:`CREATE_MINUTES`).
- A component takes no time of its own: it starts when its dependencies have finished and finishes when
  all of its children have finished. Depending on a component therefore means waiting for its children.
- Unlimited parallelism otherwise (the engine runs independent steps concurrently).

The critical path is the longest weighted chain through this graph. The lower bound it is compared with
is the longest single resource's own create time: no schedule can finish sooner, whatever the
dependencies. ``ratio`` = critical path / lower bound says how much the wiring adds.

The same graph answers "does X wait for Y" (:func:`prerequisites`), which the tests use to check that no
add-on waits for what it does not need (charts and monitoring never wait for GPU pools).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CREATE_MINUTES: dict[str, float] = {
    # Exact type tokens. Assumptions from typical public-cloud create times (rounded up); they are
    # estimates for ordering and comparison, not promises, and are reported with every plan.
    "azure-native:containerservice:ManagedCluster": 10.0,  # `az aks create`: typically 5-10 min
    "azure-native:containerservice:AgentPool": 6.0,  # new VMSS pool incl. GPU driver install: 4-8 min
    "azure-native:containerservice:Fleet": 2.0,  # hubless fleet: 1-3 min
    "azure-native:containerservice:FleetMember": 3.0,  # member join: a few minutes
    "azure-native:containerservice:FleetUpdateStrategy": 0.2,
    "azure-native:dashboard:Grafana": 5.0,  # Managed Grafana instance: 3-6 min
    "azure-native:monitor:AzureMonitorWorkspace": 1.0,
    "azure-native:authorization:RoleAssignment": 0.5,  # write is fast; includes RBAC propagation
    "azure-native:network:VirtualNetwork": 0.3,
    "azure-native:network:Subnet": 0.2,
    "azure-native:resources:ResourceGroup": 0.1,
    "azure-native:managedidentity:UserAssignedIdentity": 0.1,
    "azure-native:managedidentity:FederatedIdentityCredential": 0.1,
    "kubernetes:helm.sh/v3:Release": 2.0,  # chart install waiting for its workloads to be ready
}
PREFIX_MINUTES: tuple[tuple[str, float], ...] = (
    ("pulumi:providers:", 0.0),  # configuring a provider creates nothing
    ("kubernetes:", 0.1),  # a single Kubernetes object: seconds
    ("azure-native:", 0.5),  # any other ARM resource: well under a minute
)
DEFAULT_MINUTES = 0.1
ASSUMPTIONS = (
    "Typical create times in minutes per resource type (estimates, rounded up: AKS cluster 5-10 min, "
    "agent pool 4-8 min, Helm release ~2 min, most ARM and Kubernetes objects seconds); unlimited "
    "parallelism; a resource waits for its dependencies and provider, a component for its children."
)


def create_minutes(type_: str, custom: bool = True) -> float:
    if not custom:
        return 0.0
    if type_ in CREATE_MINUTES:
        return CREATE_MINUTES[type_]
    for prefix, minutes in PREFIX_MINUTES:
        if type_.startswith(prefix):
            return minutes
    return DEFAULT_MINUTES


@dataclass(frozen=True)
class Step:
    urn: str
    type: str
    name: str
    minutes: float
    start: float
    finish: float

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "urn": self.urn,
            "minutes": round(self.minutes, 2),
            "startMinute": round(self.start, 2),
            "finishMinute": round(self.finish, 2),
        }


@dataclass(frozen=True)
class CriticalPath:
    minutes: float
    """Length of the longest weighted chain: the expected wall time of a first deploy."""
    lower_bound_minutes: float
    """The longest single resource's own create time."""
    lower_bound: Step | None
    chain: list[Step]
    serial_minutes: float
    """Sum of all create times: a deploy with no parallelism at all."""

    @property
    def ratio(self) -> float:
        return self.minutes / self.lower_bound_minutes if self.lower_bound_minutes else 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "minutes": round(self.minutes, 2),
            "lowerBoundMinutes": round(self.lower_bound_minutes, 2),
            "lowerBoundResource": self.lower_bound.urn if self.lower_bound else None,
            "ratio": round(self.ratio, 2),
            "serialMinutes": round(self.serial_minutes, 2),
            "chain": [s.to_json() for s in self.chain],
            "assumptions": ASSUMPTIONS,
        }

    def summary_lines(self) -> list[str]:
        lines = ["Deploy critical path (typical create times, first deploy)"]
        if not self.chain:
            return [*lines, "  (nothing to create)"]
        bound = f"{self.lower_bound.type.rsplit(':', 1)[-1]} {self.lower_bound.name}" if self.lower_bound else "-"
        lines.append(
            f"  {self.minutes:.1f} min along the longest chain; lower bound "
            f"{self.lower_bound_minutes:.1f} min (longest single resource: {bound}); "
            f"ratio {self.ratio:.2f}; {self.serial_minutes:.1f} min if nothing ran in parallel"
        )
        lines.extend(
            f"  {s.start:6.1f} -> {s.finish:6.1f}  {s.type.rsplit(':', 1)[-1]:<24} {s.name}"
            for s in self.chain
            if s.minutes > 0
        )
        return lines


@dataclass(frozen=True)
class _Node:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    waits_on: tuple[str, ...]
    """Resources whose finish this one's start waits for (dependencies + provider), within the plan."""


def _provider_urn(reference: str | None) -> str | None:
    # A provider reference is "<urn>::<id>"; URNs themselves contain "::".
    return reference.rsplit("::", 1)[0] if reference else None


def _nodes(resources: Iterable[Mapping[str, Any]]) -> dict[str, _Node]:
    listed = list(resources)
    known = {r["urn"] for r in listed}
    nodes: dict[str, _Node] = {}
    for r in listed:
        provider = _provider_urn(r.get("provider"))
        waits = [d for d in r.get("dependencies") or [] if d in known and d != r["urn"]]
        if provider in known and provider not in waits:
            waits.append(provider)
        parent = r.get("parent")
        nodes[r["urn"]] = _Node(
            r["urn"],
            r["type"],
            r["name"],
            bool(r.get("custom", True)),
            parent if parent in known else None,
            tuple(waits),
        )
    return nodes


# Graph vertices: ("s", urn) = start, ("f", urn) = finish. Edges point from prerequisite to dependant.
Vertex = tuple[str, str]


def _edges(nodes: Mapping[str, _Node]) -> dict[Vertex, list[tuple[Vertex, float]]]:
    """Predecessors of every vertex with the weight of the edge into it."""
    preds: dict[Vertex, list[tuple[Vertex, float]]] = defaultdict(list)
    for urn, node in nodes.items():
        start, finish = ("s", urn), ("f", urn)
        preds[start].extend((("f", dep), 0.0) for dep in node.waits_on)
        if node.parent:
            preds[start].append((("s", node.parent), 0.0))
            if not nodes[node.parent].custom:
                preds[("f", node.parent)].append((finish, 0.0))
        preds[finish].append((start, create_minutes(node.type, node.custom)))
    return preds


def _topological(preds: Mapping[Vertex, list[tuple[Vertex, float]]], vertices: Iterable[Vertex]) -> list[Vertex]:
    succs: dict[Vertex, list[Vertex]] = defaultdict(list)
    indegree: dict[Vertex, int] = dict.fromkeys(vertices, 0)
    for vertex, incoming in preds.items():
        for pred, _ in incoming:
            succs[pred].append(vertex)
            indegree[vertex] += 1
    ready = deque(v for v, n in indegree.items() if n == 0)
    order: list[Vertex] = []
    while ready:
        vertex = ready.popleft()
        order.append(vertex)
        for succ in succs[vertex]:
            indegree[succ] -= 1
            if indegree[succ] == 0:
                ready.append(succ)
    if len(order) != len(indegree):
        stuck = sorted({urn for (_, urn), n in indegree.items() if n > 0})
        raise ValueError(f"dependency cycle among: {', '.join(stuck[:5])}")
    return order


def critical_path(resources: Iterable[Mapping[str, Any]]) -> CriticalPath:
    """The longest weighted chain of a plan's resources (plan JSON ``resources`` entries)."""
    nodes = _nodes(resources)
    preds = _edges(nodes)
    vertices = [(kind, urn) for urn in nodes for kind in ("s", "f")]
    best: dict[Vertex, float] = {}
    via: dict[Vertex, Vertex | None] = {}
    for vertex in _topological(preds, vertices):
        best[vertex], via[vertex] = 0.0, None
        for pred, weight in preds.get(vertex, []):
            if best[pred] + weight > best[vertex]:
                best[vertex], via[vertex] = best[pred] + weight, pred
    if not nodes:
        return CriticalPath(0.0, 0.0, None, [], 0.0)

    def step(urn: str) -> Step:
        node = nodes[urn]
        return Step(
            urn, node.type, node.name, create_minutes(node.type, node.custom), best[("s", urn)], best[("f", urn)]
        )

    end = max((("f", urn) for urn in nodes), key=lambda v: best[v])
    chain: list[Step] = []
    cursor: Vertex | None = end
    while cursor is not None:
        previous = via[cursor]
        if cursor[0] == "f" and previous == ("s", cursor[1]) and nodes[cursor[1]].custom:
            chain.append(step(cursor[1]))
        cursor = previous
    chain.reverse()
    longest = max(nodes, key=lambda u: create_minutes(nodes[u].type, nodes[u].custom))
    own = create_minutes(nodes[longest].type, nodes[longest].custom)
    serial = sum(create_minutes(n.type, n.custom) for n in nodes.values())
    return CriticalPath(best[end], own, step(longest) if own else None, chain, serial)


def prerequisites(resources: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """For every resource, the resources whose completion it (transitively) waits for before it starts."""
    nodes = _nodes(resources)
    preds = _edges(nodes)
    vertices = [(kind, urn) for urn in nodes for kind in ("s", "f")]
    # finished[v] = resources whose finish vertex reaches v.
    finished: dict[Vertex, frozenset[str]] = {}
    for vertex in _topological(preds, vertices):
        acc: set[str] = {vertex[1]} if vertex[0] == "f" else set()
        for pred, _ in preds.get(vertex, []):
            acc |= finished[pred]
        finished[vertex] = frozenset(acc)
    return {urn: set(finished[("s", urn)]) for urn in nodes}
