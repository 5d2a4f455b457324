"""The deploy critical path of a plan: the longest chain of waits of a first deploy, and the time table.

Model (what ``pulumi up`` of a brand-new stack waits for):

- A custom resource starts when every resource in its recorded ``dependencies`` (and its explicit
  ``provider``) has finished, and not before its parent has started. It finishes ``minutes`` later
  (:data:`TIME_TABLE`), unless it has a run-time wait (:class:`Wait`): pods wait for a node of a pool they
  can land on whether or not the program says so, a Service waits for the pods it selects.
- A component takes no time of its own: it starts when its dependencies have finished and finishes when
  all of its children have finished. Depending on a component therefore means waiting for its children.
- Unlimited parallelism otherwise (the engine runs independent steps concurrently).

The critical path is the longest weighted chain through this graph. The lower bound it is compared with
is the longest single resource's own create time: no schedule can finish sooner, whatever the
dependencies. ``ratio`` = critical path / lower bound says how much the wiring adds. The first-deploy
rehearsal (:mod:`stacks.rehearsal`) adds the run-time waits, the awaits' timeouts and the checks.

:data:`TIME_TABLE` (create times per resource type) and :data:`RATES` (a GPU workload's run-time steps, from
``components/serving/timing.py``, the figures the model Deployments' timeouts are computed from) are where
every duration the plan uses comes from; each figure carries its source (a document, or "estimate" with the
reasoning).
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.serving import timing
from components.serving.timing import Figure

TIME_TABLE: dict[str, Figure] = {
    # Minutes per resource type (exact type tokens) until the create returns; typical public-cloud create
    # times, rounded up: estimates for ordering and comparison, not promises.
    "azure-native:containerservice:ManagedCluster": Figure(10.0, "estimate: `az aks create` typically 5-10 min"),
    "azure-native:containerservice:AgentPool": Figure(
        6.0, "estimate: new VMSS pool with minCount nodes, GPU driver install included: 4-8 min"
    ),
    "azure-native:containerservice:Fleet": Figure(2.0, "estimate: hubless fleet, 1-3 min"),
    "azure-native:containerservice:FleetMember": Figure(3.0, "estimate: member join, a few minutes"),
    "azure-native:containerservice:FleetUpdateStrategy": Figure(0.2, "estimate: a plain ARM object"),
    "azure-native:dashboard:Grafana": Figure(5.0, "estimate: Managed Grafana instance, 3-6 min"),
    "azure-native:monitor:AzureMonitorWorkspace": Figure(1.0, "estimate: about a minute"),
    "azure-native:authorization:RoleAssignment": Figure(
        0.5, "estimate: the ARM write; data-plane propagation is the separate wait resource's time"
    ),
    "azure-native:network:VirtualNetwork": Figure(0.3, "estimate: seconds"),
    "azure-native:network:Subnet": Figure(0.2, "estimate: seconds"),
    "azure-native:resources:ResourceGroup": Figure(0.1, "estimate: seconds"),
    "azure-native:managedidentity:UserAssignedIdentity": Figure(0.1, "estimate: seconds"),
    "azure-native:managedidentity:FederatedIdentityCredential": Figure(0.1, "estimate: seconds"),
    "kubernetes:helm.sh/v3:Release": Figure(
        2.0, "estimate: chart install waiting for its controllers (system pool, images pulled)"
    ),
    "pulumi-python:dynamic:Resource": Figure(
        5.0,
        "Azure RBAC: role assignment changes can take up to ~5-10 min to reach the AKS data plane "
        "(learn.microsoft.com/azure/aks/manage-azure-rbac); used when the wait states no duration",
    ),
}
PREFIX_TABLE: tuple[tuple[str, Figure], ...] = (
    ("pulumi:providers:", Figure(0.0, "configuring a provider creates nothing")),
    ("kubernetes:", Figure(0.1, "estimate: a single Kubernetes object, seconds")),
    ("azure-native:", Figure(0.5, "estimate: any other ARM resource, well under a minute")),
)
DEFAULT_FIGURE = Figure(0.1, "estimate: anything else, seconds")

# Run-time steps of a GPU workload (node, image, weights): the serving component's own table, so the
# timeouts it sets and the rehearsal that checks them use the same figures (components/serving/timing.py).
RATES: dict[str, Figure] = timing.RATES
IMAGE_GIB: dict[str, tuple[Figure, Figure]] = timing.IMAGE_GIB

DEFAULT_AWAIT_MINUTES: dict[str, Figure] = {
    # pulumi-kubernetes awaits these kinds until ready, 10 minutes by default (the SDK's class docstrings,
    # e.g. pulumi_kubernetes/apps/v1/Deployment.py "If the Deployment has not reached a Ready state after
    # 10 minutes, it will time out"); Service: until its endpoints are ready (core/v1/Service.py).
    "kubernetes:apps/v1:Deployment": Figure(10.0, "pulumi-kubernetes Deployment await default"),
    "kubernetes:apps/v1:StatefulSet": Figure(10.0, "pulumi-kubernetes StatefulSet await default"),
    "kubernetes:apps/v1:DaemonSet": Figure(10.0, "pulumi-kubernetes DaemonSet await default"),
    "kubernetes:core/v1:Service": Figure(10.0, "pulumi-kubernetes Service await default (ready endpoints)"),
    "kubernetes:core/v1:Pod": Figure(10.0, "pulumi-kubernetes Pod await default"),
    "kubernetes:batch/v1:Job": Figure(10.0, "pulumi-kubernetes Job await default"),
    "kubernetes:helm.sh/v3:Release": Figure(
        5.0, "helm.v3.Release `timeout` default 300 s (pulumi_kubernetes/helm/v3/Release.py), awaited unless skipAwait"
    ),
}

# Compatibility view of the create times (minutes per exact type token).
CREATE_MINUTES: dict[str, float] = {k: f.value for k, f in TIME_TABLE.items()}
ASSUMPTIONS = (
    "Create times per resource type from stacks/critical_path.py TIME_TABLE (estimates, rounded up: AKS cluster "
    "10 min, agent pool 6 min, Helm release 2 min, RBAC propagation wait 5 min, most ARM and Kubernetes objects "
    "seconds); GPU workloads: node ready, image pull and unpack, weight download and load at RATES; unlimited "
    "parallelism; a resource waits for its dependencies and provider, a component for its children, pods for a "
    "node they can land on, a Service for its pods."
)


def figure_for(type_: str) -> Figure:
    if type_ in TIME_TABLE:
        return TIME_TABLE[type_]
    for prefix, figure in PREFIX_TABLE:
        if type_.startswith(prefix):
            return figure
    return DEFAULT_FIGURE


def create_minutes(type_: str, custom: bool = True) -> float:
    return figure_for(type_).value if custom else 0.0


def time_table_json() -> dict[str, Any]:
    """The whole table as it is reported in the plan document."""
    return {
        "createMinutes": {k: f.to_json() for k, f in TIME_TABLE.items()},
        "prefixMinutes": {k: f.to_json() for k, f in PREFIX_TABLE},
        "rates": {k: f.to_json() for k, f in RATES.items()},
        "images": {k: {"compressedGiB": c.to_json(), "unpackedGiB": u.to_json()} for k, (c, u) in IMAGE_GIB.items()},
        "checkpointBytesPerParameter": {k: f.to_json() for k, f in timing.CHECKPOINT_BYTES.items()},
        "defaultAwaitMinutes": {k: f.to_json() for k, f in DEFAULT_AWAIT_MINUTES.items()},
    }


@dataclass(frozen=True)
class Wait:
    """A run-time wait of a resource that is not a Pulumi dependency.

    The resource is ready ``minutes`` after the latest of: its own start, the earliest of ``any_of`` (urn,
    extra minutes) and every one of ``all_of``. ``never``: nothing it could wait for exists (never ready).
    """

    minutes: float
    any_of: tuple[tuple[str, float], ...] = ()
    all_of: tuple[str, ...] = ()
    never: bool = False


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
    physical_minutes: float | None = None
    """Resource group -> network -> cluster -> its GPU pools one at a time -> first GPU workload (rehearsal)."""

    @property
    def ratio(self) -> float:
        return self.minutes / self.lower_bound_minutes if self.lower_bound_minutes else 1.0

    @property
    def physical_ratio(self) -> float | None:
        return self.minutes / self.physical_minutes if self.physical_minutes else None

    def to_json(self) -> dict[str, Any]:
        ratio = self.physical_ratio
        return {
            "minutes": round(self.minutes, 2),
            "lowerBoundMinutes": round(self.lower_bound_minutes, 2),
            "lowerBoundResource": self.lower_bound.urn if self.lower_bound else None,
            "ratio": round(self.ratio, 2),
            "physicalChainMinutes": round(self.physical_minutes, 2) if self.physical_minutes else None,
            "physicalRatio": round(ratio, 3) if ratio else None,
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
        if self.physical_minutes:
            lines.append(
                f"  physical chain (resource group -> network -> cluster -> its GPU pools one at a time -> first "
                f"GPU workload): {self.physical_minutes:.1f} min; critical path / physical chain "
                f"{self.physical_ratio:.3f}"
            )
        lines.extend(
            f"  {s.start:6.1f} -> {s.finish:6.1f}  {s.type.rsplit(':', 1)[-1]:<24} {s.name}"
            for s in self.chain
            if s.finish - s.start > 0
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


def provider_urn(reference: str | None, known: Iterable[str] | None = None) -> str | None:
    """The provider's URN: the plan records the URN itself, the engine's reference is "<urn>::<id>"."""
    if not reference:
        return None
    if known is not None and reference in known:
        return reference
    return reference.rsplit("::", 1)[0]  # URNs themselves contain "::"


def _nodes(resources: Iterable[Mapping[str, Any]]) -> dict[str, _Node]:
    listed = list(resources)
    known = {r["urn"] for r in listed}
    nodes: dict[str, _Node] = {}
    for r in listed:
        provider = provider_urn(r.get("provider"), known)
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


@dataclass
class Schedule:
    """When every resource starts and is ready on a first deploy."""

    nodes: dict[str, _Node]
    start: dict[str, float]
    finish: dict[str, float]
    own: dict[str, float]
    """Minutes of the resource's own work (its table time, or its wait's ``minutes``)."""
    via: dict[Vertex, Vertex | None] = field(default_factory=dict)

    def chain_to(self, urn: str) -> list[Step]:
        """The chain of waits that ends with ``urn``'s finish."""
        chain: list[Step] = []
        cursor: Vertex | None = ("f", urn)
        while cursor is not None:
            previous = self.via.get(cursor)
            kind, current = cursor
            node = self.nodes[current]
            if kind == "f" and node.custom and (previous == ("s", current) or (previous and previous[1] != current)):
                begin = self.start[current] if previous == ("s", current) else self._value(previous)
                chain.append(
                    Step(current, node.type, node.name, self.finish[current] - begin, begin, self.finish[current])
                )
            cursor = previous
        chain.reverse()
        return chain

    def _value(self, vertex: Vertex | None) -> float:
        if vertex is None:
            return 0.0
        return self.start[vertex[1]] if vertex[0] == "s" else self.finish[vertex[1]]


def schedule(resources: Iterable[Mapping[str, Any]], waits: Mapping[str, Wait] | None = None) -> Schedule:
    nodes = _nodes(resources)
    preds = _edges(nodes)
    waits = {u: w for u, w in (waits or {}).items() if u in nodes}
    for urn, wait in waits.items():
        finish = ("f", urn)
        # Ordering only: the value of a waiting finish is computed below.
        preds[finish].extend((("f", other), 0.0) for other, _ in wait.any_of if other in nodes)
        preds[finish].extend((("f", other), 0.0) for other in wait.all_of if other in nodes)
    vertices = [(kind, urn) for urn in nodes for kind in ("s", "f")]
    best: dict[Vertex, float] = {}
    via: dict[Vertex, Vertex | None] = {}
    for vertex in _topological(preds, vertices):
        kind, urn = vertex
        if kind == "f" and urn in waits:
            wait = waits[urn]
            begin, source = best[("s", urn)], ("s", urn)
            options = [(best[("f", o)] + extra, ("f", o)) for o, extra in wait.any_of if o in nodes]
            if options:
                earliest = min(options)
                if earliest[0] > begin:
                    begin, source = earliest
            for other in wait.all_of:
                if other in nodes and best[("f", other)] > begin:
                    begin, source = best[("f", other)], ("f", other)
            best[vertex], via[vertex] = begin + wait.minutes, source
            continue
        best[vertex], via[vertex] = 0.0, None
        for pred, weight in preds.get(vertex, []):
            if best[pred] + weight > best[vertex]:
                best[vertex], via[vertex] = best[pred] + weight, pred
    own = {u: (waits[u].minutes if u in waits else create_minutes(n.type, n.custom)) for u, n in nodes.items()}
    return Schedule(
        nodes,
        {u: best[("s", u)] for u in nodes},
        {u: best[("f", u)] for u in nodes},
        own,
        via,
    )


def critical_path(
    resources: Iterable[Mapping[str, Any]],
    waits: Mapping[str, Wait] | None = None,
    physical_minutes: float | None = None,
) -> CriticalPath:
    """The longest weighted chain of a plan's resources (plan JSON ``resources`` entries)."""
    return critical_path_of(schedule(resources, waits), physical_minutes)


def critical_path_of(plan: Schedule, physical_minutes: float | None = None) -> CriticalPath:
    nodes = plan.nodes
    if not nodes:
        return CriticalPath(0.0, 0.0, None, [], 0.0, physical_minutes)
    end = max(nodes, key=lambda u: plan.finish[u])
    longest = max(nodes, key=lambda u: create_minutes(nodes[u].type, nodes[u].custom))
    own = create_minutes(nodes[longest].type, nodes[longest].custom)
    bound = Step(longest, nodes[longest].type, nodes[longest].name, own, plan.start[longest], plan.finish[longest])
    serial = sum(plan.own[u] for u, n in nodes.items() if n.custom and not math.isinf(plan.own[u]))
    return CriticalPath(plan.finish[end], own, bound if own else None, plan.chain_to(end), serial, physical_minutes)


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
