"""First-deploy rehearsal of a plan: when each GPU workload becomes ready, and what a real `pulumi up` trips on.

From the plan's dependency graph (dependencies, parents, providers; a component in ``depends_on`` means its
children; a Kubernetes resource waits for its provider, which waits for the cluster and whatever else it
depends on) and the time table of :mod:`stacks.critical_path`, the rehearsal schedules a first deploy and
adds the waits that happen at run time whether or not the program declares them:

- a pod waits for a node of a pool it can land on (node selector and affinity, taints, DRA claims or
  extended GPU resources), then pulls its image, downloads its weights and loads them;
- a Service is awaited until the pods it selects are ready (pulumi-kubernetes Service await);
- a weight-cache fill Job (label ``ai-platform/weight-cache: fill``) waits for a node of its pool, pulls its image
  and downloads its checkpoint once; a Deployment that mounts the cache (claim ``weight-cache``) starts after it
  and only loads, at the cache's read rate.

``weightDownloads`` counts what each cluster fetches from the Hub on a first deploy: one download per pod
(replicas) of a Deployment with its own weight volume, one per checkpoint for the cache's fill Jobs.

It reports three kinds of findings, each an error (a real deploy fails):

- ``awaitTimeout``: pulumi-kubernetes (or the resource's ``custom_timeouts``) gives up before the resource
  is ready (Deployment/Service 10 min, Helm release ``timeout`` 300 s unless overridden);
- ``unschedulable``: a workload whose pods no pool of its cluster can take;
- ``beforeApiAccess``: a Kubernetes object created before anyone can reach the cluster's API: not after
  an "Azure Kubernetes Service RBAC Cluster Admin" role assignment on the cluster *and* a wait resource that
  follows it (Azure RBAC propagation), and the cluster has no ``aadProfile.adminGroupObjectIDs``.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from components.facts import BUILTIN_ROLES
from components.serving import timing
from components.serving.runtimes import kaito, kuberay
from components.serving.spec import catalog
from components.weight_cache import CACHE_LABEL, CLAIM_READ, model_path
from stacks.critical_path import (
    DEFAULT_AWAIT_MINUTES,
    RATES,
    CriticalPath,
    Schedule,
    Wait,
    create_minutes,
    critical_path_of,
    prerequisites,
    provider_urn,
    schedule,
    time_table_json,
)
from stacks.placement import CHART_DEVICE_CLASSES, GPU_RESOURCES, Pool, as_int, pool_from_inputs, pool_reasons

CLUSTER = "azure-native:containerservice:ManagedCluster"
POOL = "azure-native:containerservice:AgentPool"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
RELEASE = "kubernetes:helm.sh/v3:Release"
SERVICE = "kubernetes:core/v1:Service"
WORKLOAD_TYPES = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")
JOB = "kubernetes:batch/v1:Job"
WORKSPACE = f"kubernetes:{kaito.API_VERSION}:Workspace"
RAY_SERVICE = f"kubernetes:{kuberay.API_VERSION}:RayService"
OPERATOR_WORKLOADS = {WORKSPACE: "kaito", RAY_SERVICE: "kuberay"}
"""Custom resources whose operator creates the GPU pods (KAITO, KubeRay), with their runtime."""
WAIT_FOR = "pulumi.com/waitFor"
GENERIC_AWAIT = DEFAULT_AWAIT_MINUTES["kubernetes:apps/v1:Deployment"]
"""pulumi-kubernetes awaits a resource with the ``pulumi.com/waitFor`` annotation like its built-in kinds (10
minutes unless ``customTimeouts`` or ``pulumi.com/timeoutSeconds`` say otherwise)."""
CLUSTER_ADMIN_ROLE = BUILTIN_ROLES["Azure Kubernetes Service RBAC Cluster Admin"]
WAIT_TYPES = ("pulumi-python:dynamic:", "time:index:Sleep", "pulumiverse-time:")
"""Resources that only wait (a dynamic provider, a time Sleep): what turns a role assignment into access."""
GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class Finding:
    kind: str
    urn: str
    name: str
    message: str
    severity: str = "error"
    cluster: str | None = None
    """The cluster's resource name (``beforeApiAccess``: the summary shows one line per cluster)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "urn": self.urn,
            "name": self.name,
            "message": self.message,
        }


@dataclass(frozen=True)
class WorkloadTiming:
    urn: str
    name: str
    cluster: str | None
    pools: list[str]
    start: float
    node_ready: float | None
    ready: float | None
    weights_gib: float
    phases: dict[str, float]
    timeout: float | None
    problems: list[str] = field(default_factory=list)
    downloads: int = 0
    """Hub downloads of the checkpoint on a first deploy: replicas, 1 for a fill Job, 0 from the cache."""
    checkpoint: str | None = None
    fill: bool = False

    def to_json(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 2)

        return {
            "urn": self.urn,
            "name": self.name,
            "cluster": self.cluster,
            "pools": self.pools,
            "startMinute": r(self.start),
            "nodeReadyMinute": r(self.node_ready),
            "readyMinute": r(self.ready),
            "awaitMinutes": r(self.ready - self.start) if self.ready is not None else None,
            "timeoutMinutes": r(self.timeout),
            "weightsGiB": round(self.weights_gib, 1),
            "weightCacheFill": self.fill,
            "phaseMinutes": {k: round(v, 2) for k, v in self.phases.items()},
        }


@dataclass
class Rehearsal:
    schedule: Schedule
    critical_path: CriticalPath
    workloads: list[WorkloadTiming]
    awaits: list[dict[str, Any]]
    findings: list[Finding]

    def downloads(self) -> list[dict[str, Any]]:
        """Per cluster and checkpoint: how many times a first deploy downloads it from the Hub, and the GiB."""
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for w in self.workloads:
            if not w.downloads or w.checkpoint is None:
                continue
            row = rows.setdefault(
                (w.cluster or "?", w.checkpoint),
                {
                    "cluster": w.cluster,
                    "checkpoint": w.checkpoint,
                    "checkpointGiB": round(w.weights_gib, 1),
                    "downloads": 0,
                    "by": [],
                },
            )
            row["downloads"] += w.downloads
            row["by"].append(w.name)
        for row in rows.values():
            row["totalGiB"] = round(row["checkpointGiB"] * row["downloads"], 1)
        return sorted(rows.values(), key=lambda r: (str(r["cluster"]), r["checkpoint"]))

    def to_json(self) -> dict[str, Any]:
        return {
            "findings": [f.to_json() for f in self.findings],
            "gpuWorkloads": [w.to_json() for w in self.workloads],
            "weightDownloads": self.downloads(),
            "awaits": self.awaits,
            "timeTable": time_table_json(),
        }

    def summary_lines(self) -> list[str]:
        lines = ["First-deploy rehearsal (GPU workloads ready; awaits, scheduling, API access)"]
        for w in self.workloads:
            if w.ready is None:
                lines.append(f"  {w.name}: never ready ({'; '.join(w.problems)})")
                continue
            timeout = f"{w.timeout:.0f} min" if w.timeout is not None else "not awaited"
            lines.append(
                f"  {w.name}: ready at {w.ready:.1f} min (created {w.start:.1f}, node {w.node_ready:.1f}; "
                f"pull {w.phases['imagePull']:.1f} + download {w.phases['weightDownload']:.1f} + load "
                f"{w.phases['weightLoad']:.1f} min for {w.weights_gib:.0f} GiB; await {w.ready - w.start:.1f} min "
                f"of {timeout}) on {', '.join(w.pools)}"
            )
        if not self.workloads:
            lines.append("  (no GPU workloads)")
        for row in self.downloads():
            lines.append(
                f"  weight downloads {row['cluster']}: {row['checkpoint']} {row['downloads']} x "
                f"{row['checkpointGiB']:.1f} GiB = {row['totalGiB']:.1f} GiB ({', '.join(row['by'])})"
            )
        if not self.findings:
            lines.append("  no problems")
        lines.extend(f"  [{f.severity}] {f.kind}: {f.message}" for f in self.findings if f.kind != "beforeApiAccess")
        by_cluster: dict[str, list[Finding]] = {}
        for f in self.findings:
            if f.kind == "beforeApiAccess":
                by_cluster.setdefault(f.cluster or "?", []).append(f)
        for cluster, found in by_cluster.items():
            names = ", ".join(f.name for f in found[:4]) + (f", ... ({len(found)} in all)" if len(found) > 4 else "")
            lines.append(
                f"  [error] beforeApiAccess: {cluster}: {names}: {found[0].message.split(' is created ', 1)[1]}"
            )
        return lines


# --- reading the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Index:
    by_urn: dict[str, Mapping[str, Any]]
    prereq: dict[str, set[str]]
    clusters: list[str]

    def of_type(self, *types: str) -> list[Mapping[str, Any]]:
        return [r for r in self.by_urn.values() if r["type"] in types]

    def cluster_of(self, urn: str) -> str | None:
        r = self.by_urn[urn]
        provider = provider_urn(r.get("provider"), self.by_urn)
        candidates = [provider, urn] if provider else [urn]
        for c in candidates:
            if c is None or c not in self.by_urn:
                continue
            direct = [d for d in self.by_urn[c].get("dependencies") or [] if d in self.clusters]
            if len(direct) == 1:
                return direct[0]
            found = [x for x in self.clusters if x in self.prereq.get(c, set())]
            if len(found) == 1:
                return found[0]
        return None

    def k8s_objects(self, cluster: str, type_: str) -> list[Mapping[str, Any]]:
        return [r for r in self.of_type(type_) if self.cluster_of(r["urn"]) == cluster]


def _meta(r: Mapping[str, Any]) -> Mapping[str, Any]:
    return (r.get("inputs") or {}).get("metadata") or {}


def _named(index: _Index, cluster: str, type_: str, name: str, namespace: str | None) -> Mapping[str, Any] | None:
    for r in index.k8s_objects(cluster, type_):
        meta = _meta(r)
        if meta.get("name") == name and (namespace is None or meta.get("namespace") in (namespace, None)):
            return r
    return None


def _device_requests(index: _Index, cluster: str, pod: Mapping[str, Any], namespace: str) -> list[dict[str, Any]]:
    """(deviceClassName, count) of every claim the pod references; class/claim problems as ``problem``."""
    requests: list[dict[str, Any]] = []
    for claim in pod.get("resourceClaims") or []:
        if claim.get("resourceClaimTemplateName"):
            source = _named(
                index,
                cluster,
                "kubernetes:resource.k8s.io/v1:ResourceClaimTemplate",
                claim["resourceClaimTemplateName"],
                namespace,
            )
            spec = ((source or {}).get("inputs") or {}).get("spec", {}).get("spec", {}) if source else None
        else:
            source = _named(
                index,
                cluster,
                "kubernetes:resource.k8s.io/v1:ResourceClaim",
                str(claim.get("resourceClaimName")),
                namespace,
            )
            spec = ((source or {}).get("inputs") or {}).get("spec") if source else None
        if spec is None:
            requests.append({"problem": f"claim source of {claim.get('name')!r} is not created by this stack"})
            continue
        for req in (spec.get("devices") or {}).get("requests") or []:
            exactly = req.get("exactly") or req
            requests.append({"class": exactly.get("deviceClassName"), "count": as_int(exactly.get("count"), 1)})
    return requests


def _class_selector(index: _Index, cluster: str, name: str) -> list[str] | dict[str, str] | None:
    r = _named(index, cluster, "kubernetes:resource.k8s.io/v1:DeviceClass", name, None)
    if r is not None:
        selectors = ((r.get("inputs") or {}).get("spec") or {}).get("selectors") or []
        return [str((s.get("cel") or {}).get("expression", "")) for s in selectors]
    return CHART_DEVICE_CLASSES.get(name)


def _checkpoint(container: Mapping[str, Any]) -> str | None:
    """The repository a container serves (``--model``) or caches (a fill Job's ``REPO``)."""
    args = [str(a) for a in container.get("args") or []]
    if "--model" in args[:-1]:
        return args[args.index("--model") + 1]
    env = {e.get("name"): e.get("value") for e in container.get("env") or []}
    return str(env["REPO"]) if env.get("REPO") else None


def _cached(pod: Mapping[str, Any]) -> bool:
    """The pod mounts the cluster's weight cache read-only (its ``weight-cache`` claim)."""
    return any((v.get("persistentVolumeClaim") or {}).get("claimName") == CLAIM_READ for v in pod.get("volumes") or [])


def _weights_gib(container: Mapping[str, Any], pod: Mapping[str, Any]) -> float:
    """GiB downloaded and loaded: the catalog checkpoint named by ``--model`` (a repository, or its directory in the
    weight cache) in its stored precision (components/serving/timing.py ``checkpoint_gib``), else the model
    volume's ``sizeLimit`` (an upper bound)."""
    source = _checkpoint(container)
    for arch in catalog().values():
        for precision, repo in arch.sources.items():
            if source and source in (repo, model_path(repo)):
                return timing.checkpoint_gib(arch.parameters_billions, precision)
    mounts = {m.get("name"): m.get("mountPath") for m in container.get("volumeMounts") or []}
    for volume in pod.get("volumes") or []:
        if mounts.get(volume.get("name"), "").startswith("/models"):
            size = str(((volume.get("emptyDir") or {}).get("sizeLimit")) or "")
            if size.endswith("Gi"):
                return float(size[:-2])
    return 0.0


def _catalog_gib(source: str | None) -> float | None:
    for arch in catalog().values():
        for precision, repo in arch.sources.items():
            if source and repo == source:
                return timing.checkpoint_gib(arch.parameters_billions, precision)
    return None


def operator_pod(r: Mapping[str, Any]) -> tuple[dict[str, Any], float, float, int, str | None] | None:
    """For a KAITO Workspace or a KubeRay RayService: the GPU pod its operator creates (scheduling terms), the GiB
    it downloads and loads, the minutes the runtime adds before loading (timing.RUNTIME_START_MINUTES), and how many
    such pods there are (each downloads the checkpoint), and the checkpoint's repository."""
    runtime = OPERATOR_WORKLOADS.get(r["type"])
    if runtime is None:
        return None
    inputs = dict(r.get("inputs") or {})
    start = timing.RUNTIME_START_MINUTES[runtime].value
    if runtime == "kaito":
        preset = str(((inputs.get("inference") or {}).get("preset") or {}).get("name") or "")
        model = next((m for m, p in kaito.PRESETS.items() if p.name == preset), None)
        arch = catalog().get(model or "")
        weights = timing.checkpoint_gib(arch.parameters_billions, arch.default_precision) if arch else 0.0
        count = as_int((inputs.get("resource") or {}).get("count"), 1)
        return kaito.pod_view(inputs), weights, start, count, arch.source if arch else None
    gpu = [(pod, count) for pod, count in kuberay.worker_pods(inputs) if pod.get("resourceClaims")]
    if not gpu:
        return None
    serve = yaml.safe_load(str((inputs.get("spec") or {}).get("serveConfigV2") or "")) or {}
    sources = [
        (c.get("model_loading_config") or {}).get("model_source")
        for app in serve.get("applications") or []
        for c in (app.get("args") or {}).get("llm_configs") or []
    ]
    found = _catalog_gib(sources[0] if sources else None)
    pod, count = gpu[0]
    main = (pod.get("containers") or [{}])[0]
    source = str(sources[0]) if sources and sources[0] else None
    return pod, found if found is not None else _weights_gib(main, pod), start, count, source


def _go_minutes(duration: str) -> float | None:
    """A Go duration (``"1h30m"``, ``"600s"``; the format of custom_timeouts) in minutes, None if not one."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        return None
    scale = {"h": 60.0, "m": 1.0, "s": 1 / 60, "ms": 1 / 6e4, "us": 1 / 6e7, "µs": 1 / 6e7, "ns": 1 / 6e10}
    return sum(float(n) * scale[u] for n, u in parts)


def await_timeout(r: Mapping[str, Any]) -> tuple[float | None, str]:
    """Minutes the engine awaits a create before failing it (None: not awaited / provider's own default)."""
    inputs = r.get("inputs") or {}
    annotations = _meta(r).get("annotations") or {}
    custom = _go_minutes(str((r.get("customTimeouts") or {}).get("create") or ""))
    type_ = r["type"]
    if type_ == RELEASE:
        if inputs.get("skipAwait") is True and not inputs.get("atomic"):
            return None, "skipAwait"
        if isinstance(inputs.get("timeout"), (int, float)):
            return float(inputs["timeout"]) / 60, "Release timeout"
        if custom is not None:
            return custom, "customTimeouts.create"
        return DEFAULT_AWAIT_MINUTES[RELEASE].value, DEFAULT_AWAIT_MINUTES[RELEASE].source
    if type_.startswith("kubernetes:"):
        if str(annotations.get("pulumi.com/skipAwait", "")).lower() == "true":
            return None, "pulumi.com/skipAwait"
        if type_ not in DEFAULT_AWAIT_MINUTES and WAIT_FOR not in annotations:
            return None, "not awaited"
        # Precedence: customTimeouts, then the annotation, then the default (pulumi/pulumi-kubernetes#672).
        if custom is not None:
            return custom, "customTimeouts.create"
        seconds = annotations.get("pulumi.com/timeoutSeconds")
        if seconds is not None and str(seconds).isdigit():
            return int(seconds) / 60, "pulumi.com/timeoutSeconds"
        default = DEFAULT_AWAIT_MINUTES.get(type_, GENERIC_AWAIT)
        return default.value, default.source
    if custom is not None:
        return custom, "customTimeouts.create"
    return None, "provider default"


def _is_admin_role(r: Mapping[str, Any]) -> bool:
    role = str((r.get("inputs") or {}).get("roleDefinitionId") or "")
    return role.rsplit("/", 1)[-1] == CLUSTER_ADMIN_ROLE


def _wait_minutes(r: Mapping[str, Any]) -> float | None:
    """A wait resource's stated duration (an input named like ``*Seconds``, not a timeout), else None."""
    for key, value in (r.get("inputs") or {}).items():
        lowered = key.lower()
        if "second" in lowered and "timeout" not in lowered and isinstance(value, (int, float)):
            return float(value) / 60
    return None


# --- the rehearsal ------------------------------------------------------------------------------------


def rehearse(resources: Iterable[Mapping[str, Any]]) -> Rehearsal:
    listed = list(resources)
    by_urn = {r["urn"]: r for r in listed}
    index = _Index(by_urn, prerequisites(listed), [r["urn"] for r in listed if r["type"] == CLUSTER])
    findings: list[Finding] = []

    pools: dict[str, list[Pool]] = {c: [] for c in index.clusters}
    for c in index.clusters:
        for profile in (by_urn[c].get("inputs") or {}).get("agentPoolProfiles") or []:
            pools[c].append(pool_from_inputs(c, profile, str(profile.get("name"))))
    for r in index.of_type(POOL):
        cluster = index.cluster_of(r["urn"])
        if cluster is not None:
            pools[cluster].append(pool_from_inputs(r["urn"], r.get("inputs") or {}, r["name"]))

    waits: dict[str, Wait] = {}
    for r in (x for x in listed if x["type"].startswith(WAIT_TYPES)):
        stated = _wait_minutes(r)
        if stated is not None:
            waits[r["urn"]] = Wait(stated)

    # GPU workloads: pods wait for a node of a pool they can land on.
    gpu_facts: dict[str, dict[str, Any]] = {}
    for r in index.of_type(*WORKLOAD_TYPES, JOB, *OPERATOR_WORKLOADS):
        fill = r["type"] == JOB and (_meta(r).get("labels") or {}).get(CACHE_LABEL) == "fill"
        if r["type"] == JOB and not fill:
            continue
        # A KAITO Workspace or a RayService: the GPU pod its operator creates.
        operated = operator_pod(r)
        pod = (
            operated[0]
            if operated
            else (((r.get("inputs") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
        )
        containers = list(pod.get("containers") or [])
        gpus = {
            k: int(str(v)) if str(v).isdigit() else 1
            for c in containers
            for k, v in (((c.get("resources") or {}).get("limits")) or {}).items()
            if k in GPU_RESOURCES
        }
        if not gpus and not pod.get("resourceClaims") and not fill:
            continue
        cluster = index.cluster_of(r["urn"])
        namespace = str(_meta(r).get("namespace") or "default")
        requests = _device_requests(index, cluster, pod, namespace) if cluster else []
        landable: list[Pool] = []
        reasons: dict[str, list[str]] = {}
        device_class = functools.partial(_class_selector, index, cluster or "")
        for pool in pools.get(cluster or "", []):
            why = pool_reasons(pool, pod, gpus, requests, device_class)
            if why:
                reasons[pool.name] = why
            else:
                landable.append(pool)
        main = containers[0] if containers else {}
        weights = operated[1] if operated else _weights_gib(main, pod)
        cached = _cached(pod)
        load_rate = RATES["cacheReadMiBps" if cached else "weightLoadMiBps"].value
        phases = {
            "imagePull": timing.image_minutes(str(main.get("image") or "")),
            # From the Hub: each pod with its own volume, a fill Job once; a pod on the cache only loads.
            "weightDownload": 0.0 if cached else weights * 1024 / RATES["weightDownloadMiBps"].value / 60,
            "weightLoad": 0.0 if fill else weights * 1024 / load_rate / 60,
        }
        if operated:
            phases["runtimeStart"] = operated[2]
        replicas = operated[3] if operated else as_int(((r.get("inputs") or {}).get("spec") or {}).get("replicas"), 1)
        extra = RATES["draPluginMinutes"].value if requests else 0.0
        options = tuple(
            (p.urn, extra + (RATES["nodeFromZeroMinutes"].value if p.min_count < 1 else 0.0)) for p in landable
        )
        waits[r["urn"]] = Wait(sum(phases.values()), any_of=options, never=not landable)
        gpu_facts[r["urn"]] = {
            "cluster": cluster,
            "landable": landable,
            "phases": phases,
            "weights": weights,
            "downloads": 1 if fill else (0 if cached else replicas),
            "checkpoint": operated[4] if operated else _checkpoint(main),
            "fill": fill,
        }
        if not landable:
            detail = (
                "; ".join(f"{name}: {', '.join(why)}" for name, why in reasons.items()) or "the cluster has no pools"
            )
            findings.append(
                Finding("unschedulable", r["urn"], r["name"], f"{r['name']}: no pool its pods can land on ({detail})")
            )

    # A Service is awaited until its endpoints target a ready pod (pulumi-kubernetes provider/pkg/await/
    # service.go: endpointsReady needs a target Pod; headless and ExternalName Services are exempt).
    for r in index.of_type(SERVICE):
        service_spec = (r.get("inputs") or {}).get("spec") or {}
        selector = service_spec.get("selector") or {}
        service_cluster, service_namespace = index.cluster_of(r["urn"]), _meta(r).get("namespace")
        if not selector or service_cluster is None or service_spec.get("clusterIP") == "None":
            continue
        selected = [
            w["urn"]
            for w in index.of_type(*WORKLOAD_TYPES)
            if index.cluster_of(w["urn"]) == service_cluster
            and _meta(w).get("namespace") == service_namespace
            and all(
                ((w["inputs"]["spec"].get("template") or {}).get("metadata") or {}).get("labels", {}).get(k) == v
                for k, v in selector.items()
            )
        ]
        if selected:
            live = tuple((w, 0.0) for w in selected if not (w in waits and waits[w].never))
            waits[r["urn"]] = Wait(create_minutes(SERVICE), any_of=live, never=not live)

    plan = schedule(listed, waits)
    never = {u for u, w in waits.items() if w.never}
    for u in never:  # never ready: it holds its await until the timeout (or forever)
        plan.finish[u] = math.inf

    awaits: list[dict[str, Any]] = []
    for r in listed:
        if not r.get("custom", True):
            continue
        timeout, source = await_timeout(r)
        if timeout is None:
            continue
        u = r["urn"]
        took = plan.finish[u] - plan.start[u]
        awaits.append(
            {
                "urn": u,
                "name": r["name"],
                "type": r["type"],
                "startMinute": round(plan.start[u], 2),
                "readyMinute": None if math.isinf(plan.finish[u]) else round(plan.finish[u], 2),
                "awaitMinutes": None if math.isinf(took) else round(took, 2),
                "timeoutMinutes": round(timeout, 2),
                "timeoutSource": source,
            }
        )
        if took > timeout:
            what = "is never ready" if math.isinf(took) else f"needs {took:.1f} min to become ready"
            findings.append(
                Finding(
                    "awaitTimeout",
                    u,
                    r["name"],
                    f"{r['name']} ({r['type'].rsplit(':', 1)[-1]}) {what} but is awaited for {timeout:.1f} min "
                    f"({source}); a real deploy fails at minute {plan.start[u] + timeout:.1f}. Fix: make it wait for "
                    "what it needs (depends_on) and set custom_timeouts (or the pulumi.com/timeoutSeconds "
                    "annotation) to cover it",
                )
            )
    for u in never:  # for the critical path: the deploy fails there once the await gives up
        timeout, _ = await_timeout(by_urn[u])
        plan.finish[u] = plan.start[u] + (timeout or 0.0)

    findings.extend(_access_findings(listed, index))

    workloads = []
    for u, facts in gpu_facts.items():
        landable = facts["landable"]
        node_ready = (
            min(plan.finish[p.urn] + extra for p, (_, extra) in zip(landable, waits[u].any_of, strict=True))
            if landable
            else None
        )
        workloads.append(
            WorkloadTiming(
                u,
                by_urn[u]["name"],
                by_urn[facts["cluster"]]["name"] if facts["cluster"] else None,
                [p.name for p in landable],
                plan.start[u],
                node_ready,
                None if u in never else plan.finish[u],
                facts["weights"],
                facts["phases"],
                await_timeout(by_urn[u])[0],
                ["no pool its pods can land on"] if u in never else [],
                facts["downloads"],
                facts["checkpoint"],
                facts["fill"],
            )
        )
    workloads.sort(key=lambda w: (math.inf if w.ready is None else w.ready, w.name))
    physical = _physical_chain(plan, index, pools, workloads, waits)
    kinds = {"awaitTimeout": 0, "unschedulable": 1, "beforeApiAccess": 2}
    findings.sort(key=lambda f: (kinds.get(f.kind, 9), f.urn))
    return Rehearsal(plan, critical_path_of(plan, physical), workloads, awaits, findings)


def _access_findings(listed: list[Mapping[str, Any]], index: _Index) -> list[Finding]:
    findings: list[Finding] = []
    grants: dict[str, list[str]] = {c: [] for c in index.clusters}
    for r in listed:
        if r["type"] == ROLE_ASSIGNMENT and _is_admin_role(r):
            for c in index.clusters:
                if c in index.prereq.get(r["urn"], set()):
                    grants[c].append(r["urn"])
    waits_after = {
        c: {
            w["urn"]
            for w in listed
            if w["type"].startswith(WAIT_TYPES) and any(g in index.prereq.get(w["urn"], set()) for g in grants[c])
        }
        for c in index.clusters
    }
    for r in listed:
        if not r.get("custom", True) or not r["type"].startswith("kubernetes:"):
            continue
        cluster = index.cluster_of(r["urn"])
        if cluster is None:
            continue
        aad = (index.by_urn[cluster].get("inputs") or {}).get("aadProfile") or {}
        if aad.get("adminGroupObjectIDs"):
            continue  # members of the cluster's admin groups are cluster-admin from its creation
        before = index.prereq.get(r["urn"], set())
        if before & waits_after[cluster]:
            continue
        if any(g in before for g in grants[cluster]):
            why = "after the cluster-admin role assignment but not after a wait for Azure RBAC propagation"
        else:
            why = "before anyone is granted access to the cluster's API"
        findings.append(
            Finding(
                "beforeApiAccess",
                r["urn"],
                r["name"],
                f"{r['name']} ({r['type'].rsplit(':', 1)[-1]}) is created {why} (disableLocalAccounts + Azure RBAC: "
                'Forbidden). Fix: grant the deployer "Azure Kubernetes Service RBAC Cluster Admin" on the cluster and '
                "make the Kubernetes provider wait for it and for RBAC propagation, or set "
                "security.adminGroupObjectIds",
                cluster=index.by_urn[cluster]["name"],
            )
        )
    return findings


def _physical_chain(
    plan: Schedule,
    index: _Index,
    pools: Mapping[str, list[Pool]],
    workloads: list[WorkloadTiming],
    waits: Mapping[str, Wait],
) -> float | None:
    """Resource group -> network -> cluster -> its GPU pools one at a time -> a GPU workload ready (after the
    weight-cache fill of its checkpoint, when it has one): the longest such chain over the GPU workloads that
    become ready (a deploy is done when its slowest model server is, e.g. a multi-node RayService downloading a
    larger checkpoint on every pipeline stage)."""
    ready = [w for w in workloads if w.ready is not None and not w.fill]
    if not ready:
        return None

    def chain_of(workload: WorkloadTiming) -> float:
        cluster = next(c for c in index.clusters if index.by_urn[c]["name"] == workload.cluster)
        before = index.prereq[cluster]

        def longest(type_: str) -> float:
            return max((create_minutes(type_) for u in before if index.by_urn[u]["type"] == type_), default=0.0)

        chain = sum(
            longest(t)
            for t in (
                "azure-native:resources:ResourceGroup",
                "azure-native:network:VirtualNetwork",
                "azure-native:network:Subnet",
            )
        )
        chain += create_minutes(CLUSTER)
        chain += sum(create_minutes(POOL) for p in pools[cluster] if p.urn != cluster)
        extra = max((e for _, e in waits[workload.urn].any_of), default=0.0)
        fills = [w for w in workloads if w.fill and w.urn in index.prereq.get(workload.urn, set())]
        if fills:
            # The fill Job brought up the node; the model server then pulls, loads and starts on it.
            fill = max(fills, key=lambda w: waits[w.urn].minutes)
            extra = max((e for _, e in waits[fill.urn].any_of), default=0.0) + RATES["draPluginMinutes"].value
            return chain + extra + waits[fill.urn].minutes + waits[workload.urn].minutes
        return chain + extra + waits[workload.urn].minutes

    return max(chain_of(w) for w in ready)
