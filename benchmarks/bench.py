"""Benchmark: offline plan time of the blueprint against the Pulumi SDK's own floor.

Usage (from the repository root; takes a few minutes on 2 cores):

    .venv/bin/python benchmarks/bench.py [--repeat 5] [--sizes 1,5,10,20] [--markdown benchmarks/results.md]

What it measures, in one process after a warm-up run of each case (imports and first-use costs excluded):

- blueprint: ``run_plan(stack).to_json()``: configuration validation, the program under the mock runtime
  (preview), and the plan document (including policies, cost and critical path as far as they exist);
- floor: the same registrations replayed as raw ``pulumi.CustomResource`` / ``ProviderResource`` /
  ``ComponentResource`` objects (same types, names, parents, inputs, dependencies, providers, aliases,
  protect and ignoreChanges) under the same mock monitor: what the SDK needs with no blueprint at all.

Cases: every shipped ``Pulumi.<stack>.yaml`` and generated stacks of 1, 5, 10 and 20 clusters built from
the prod stack: its root keys copied, its cluster entries replicated round-robin with distinct ids,
regions and 10.x address ranges (references to the template cluster ids in other root keys are expanded
to the generated ids), so every feature prod turns on is included as it lands.

Also reported: the cold command-line wall time of ``python -m stacks plan prod`` (interpreter start and
imports included), which is what a user waits for; and, per shipped stack, the first-deploy rehearsal's
critical path against the physical chain (resource group -> network -> cluster -> that cluster's GPU pools
one at a time -> the slowest GPU workload ready), goal: prod within 1.15x (``--critical-path-only`` for just that).

``--packing``: the fewest-GPU packing of model serving on mixes of 4 to 14 models on one cluster with five GPU
pools and six sharing profiles: GPUs placed against ceil(total memory / GPU memory) and against each
deployment's cheapest candidate per replica, and the time ``analyse`` takes.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import gc
import ipaddress
import itertools
import json as json_module
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pulumi  # noqa: E402
import yaml  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from pulumi.runtime import settings as pulumi_settings  # noqa: E402
from pulumi.runtime.sync_await import _sync_await  # noqa: E402

from components._common import PROJECT  # noqa: E402
from stacks import plan as plan_module  # noqa: E402
from stacks.plan import run_plan  # noqa: E402

CLUSTERS_KEY = f"{PROJECT}:clusters"
REGIONS = (
    "westeurope",
    "northeurope",
    "swedencentral",
    "francecentral",
    "uksouth",
    "germanywestcentral",
    "eastus",
    "eastus2",
    "southcentralus",
    "westus3",
    "canadacentral",
    "japaneast",
    "australiaeast",
    "koreacentral",
    "centralindia",
)
PRIVATE_10 = ipaddress.IPv4Network("10.0.0.0/8")


# --- generated stacks -----------------------------------------------------------------------------------


def _renumber(value: Any, index: int) -> Any:
    """Move every 10.x address or range of a cluster entry to 10.(100+index).*, keeping the rest."""
    if isinstance(value, dict):
        return {k: _renumber(v, index) for k, v in value.items()}
    if isinstance(value, list):
        return [_renumber(v, index) for v in value]
    if isinstance(value, str) and value[:3] == "10.":
        try:
            net = ipaddress.IPv4Network(value, strict=False)
        except ValueError:
            return value
        if net.subnet_of(PRIVATE_10):
            octets = value.split("/")[0].split(".")
            octets[1] = str(100 + index)
            return ".".join(octets) + (f"/{value.split('/')[1]}" if "/" in value else "")
    return value


def _remap_ids(value: Any, derived: dict[str, list[str]], fallback: str) -> Any:
    """Point references to template cluster ids (keys, list items, strings) at the generated ids."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in derived:
                for new in derived[key]:
                    out[new] = _remap_ids(copy.deepcopy(item), derived, fallback)
            else:
                out[key] = _remap_ids(item, derived, fallback)
        return out
    if isinstance(value, list):
        items: list[Any] = []
        for item in value:
            if isinstance(item, str) and item in derived:
                items.extend(derived[item])
            else:
                items.append(_remap_ids(item, derived, fallback))
        return items
    if isinstance(value, str) and value in derived:
        return (derived[value] or [fallback])[0]
    return value


def generated_stack(clusters: int, template: Path = ROOT / "Pulumi.prod.yaml") -> dict[str, Any]:
    document = yaml.safe_load(template.read_text())
    config: dict[str, Any] = document["config"]
    templates = list(config[CLUSTERS_KEY].items())
    generated: dict[str, Any] = {}
    derived: dict[str, list[str]] = defaultdict(list)
    for i in range(clusters):
        template_id, spec = templates[i % len(templates)]
        cluster_id = f"c{i + 1:02d}"
        entry = _renumber(copy.deepcopy(spec), i)
        entry["location"] = REGIONS[i % len(REGIONS)]
        generated[cluster_id] = entry
        derived[template_id].append(cluster_id)
    for template_id, _ in templates:
        derived.setdefault(template_id, [])
    result = {key: _remap_ids(value, dict(derived), "c01") for key, value in config.items() if key != CLUSTERS_KEY}
    result[CLUSTERS_KEY] = generated
    _drop_empty_fleet_stages(result)
    return {"config": result}


def _drop_empty_fleet_stages(config: dict[str, Any]) -> None:
    """Fewer clusters than the template may leave an update-strategy group without members: drop it."""
    fleet = config.get(f"{PROJECT}:fleet")
    if not isinstance(fleet, dict) or not isinstance(fleet.get("updateStrategy"), dict):
        return
    used = {m.get("group") for m in (fleet.get("members") or {}).values() if isinstance(m, dict)}
    stages = fleet["updateStrategy"].get("stages") or {}
    for name in list(stages):
        stages[name]["groups"] = [g for g in stages[name].get("groups", []) if g in used]
        if not stages[name]["groups"]:
            del stages[name]


# --- the floor: replay the recorded registrations with the bare SDK ---------------------------------------


class _CapturingMonitor(plan_module._RecordingMonitor):
    captured: list[Any] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            _CapturingMonitor.captured.append((request, response.urn))
        return response


def capture(stack: str, config_file: Path | None) -> list[Any]:
    """The blueprint's registration requests for this case, in the order the engine received them."""
    original = plan_module._RecordingMonitor
    _CapturingMonitor.captured = []
    plan_module._RecordingMonitor = _CapturingMonitor  # type: ignore[misc]
    try:
        run_plan(stack, config_file)
    finally:
        plan_module._RecordingMonitor = original  # type: ignore[misc]
    return list(_CapturingMonitor.captured)


def replay(stack: str, requests: list[Any], pause_gc: bool = True) -> int:
    """Register the same resources as raw SDK resources under the same mock monitor; returns the count.

    ``pause_gc``: run under the same garbage-collector policy as the offline plan (collector paused), so
    the ratio compares like with like; ``False`` gives the SDK's cost with Python's default settings.
    """
    monitor = plan_module._RecordingMonitor(plan_module._PlanMocks())
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=True, monitor=monitor)

    def program() -> None:
        by_urn: dict[str, pulumi.Resource] = {}
        for request, urn in requests:
            provider_urn = request.provider.rsplit("::", 1)[0] if request.provider else None
            timeouts = request.customTimeouts
            opts = pulumi.ResourceOptions(
                parent=by_urn.get(request.parent),
                depends_on=[by_urn[d] for d in request.dependencies if d in by_urn],
                protect=request.protect or None,
                ignore_changes=list(request.ignoreChanges) or None,
                aliases=[pulumi.Alias(type_=a.spec.type) for a in request.aliases if a.spec.type] or None,
                provider=by_urn.get(provider_urn) if provider_urn else None,  # type: ignore[arg-type]
                custom_timeouts=pulumi.CustomTimeouts(
                    create=timeouts.create or None, update=timeouts.update or None, delete=timeouts.delete or None
                )
                if timeouts.create or timeouts.update or timeouts.delete
                else None,
            )
            props = json_format.MessageToDict(request.object)
            resource: pulumi.Resource
            if not request.custom:
                component = pulumi.ComponentResource(request.type, request.name, None, opts)
                component.register_outputs({})
                resource = component
            elif request.type.startswith("pulumi:providers:"):
                resource = pulumi.ProviderResource(request.type.split(":", 2)[2], request.name, props, opts)
            else:
                resource = pulumi.CustomResource(request.type, request.name, props, opts)
            by_urn[urn] = resource

    with plan_module._gc_paused() if pause_gc else contextlib.nullcontext():
        _sync_await(pulumi.runtime.stack.run_pulumi_func(program))
    return len(monitor.registrations)


# --- measurement ------------------------------------------------------------------------------------------


@dataclass
class Row:
    case: str
    clusters: int
    resources: int
    blueprint_s: float
    floor_s: float
    blueprint_wall_s: float
    floor_default_gc_s: float

    @property
    def ms_per_resource(self) -> float:
        return 1000 * self.blueprint_s / self.resources

    @property
    def floor_ms_per_resource(self) -> float:
        return 1000 * self.floor_s / self.resources

    @property
    def ratio(self) -> float:
        return self.blueprint_s / self.floor_s


def timed(action: Callable[[], Any]) -> tuple[float, float]:
    """(CPU seconds of this process, all threads; wall seconds) of one call."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    action()
    return time.process_time() - cpu, time.perf_counter() - wall


def measure(case: str, stack: str, config_file: Path | None, repeat: int) -> Row:
    requests = capture(stack, config_file)  # also the warm-up run
    replay(stack, requests)  # warm-up of the floor
    clusters = len(run_plan(stack, config_file).config.clusters)
    blueprint: list[tuple[float, float]] = []
    floor: list[tuple[float, float]] = []
    floor_default_gc: list[tuple[float, float]] = []
    for _ in range(repeat):  # interleaved, so load from other processes hits all alike
        blueprint.append(timed(lambda: run_plan(stack, config_file).to_json()))
        floor.append(timed(lambda: replay(stack, requests)))
        floor_default_gc.append(timed(lambda: replay(stack, requests, pause_gc=False)))
    return Row(
        case,
        clusters,
        len(requests),
        statistics.median(c for c, _ in blueprint),
        statistics.median(c for c, _ in floor),
        statistics.median(w for _, w in blueprint),
        statistics.median(c for c, _ in floor_default_gc),
    )


def cold_cli_seconds(stack: str, repeat: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "stacks", "plan", stack, "--json", str(Path(tmp) / "plan.json")]
        walls = [
            timed(lambda: subprocess.run(command, cwd=ROOT, check=False, capture_output=True))[1] for _ in range(repeat)
        ]
        return statistics.median(walls)


def markdown(rows: list[Row], cli_prod: float) -> str:
    lines = [
        "| case | clusters | resources | blueprint s | floor s | blueprint ms/resource | floor ms/resource "
        "| ratio | blueprint wall s | floor s, default GC |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines.extend(
        f"| {r.case} | {r.clusters} | {r.resources} | {r.blueprint_s:.3f} | {r.floor_s:.3f} | "
        f"{r.ms_per_resource:.1f} | {r.floor_ms_per_resource:.1f} | {r.ratio:.2f} | {r.blueprint_wall_s:.3f} | "
        f"{r.floor_default_gc_s:.3f} |"
        for r in rows
    )
    generated = [r for r in rows if r.case.startswith("generated")]
    steps = [
        f"{a.clusters}->{b.clusters}: {1000 * (b.blueprint_s - a.blueprint_s) / (b.clusters - a.clusters):.0f} ms"
        for a, b in itertools.pairwise(generated)
        if b.clusters > a.clusters
    ]
    if steps:
        lines += ["", "Blueprint CPU time per added cluster (linear scaling shows as a constant): " + ", ".join(steps)]
    machine = f"{os.cpu_count()} CPUs, Python {platform.python_version()}, pulumi {pulumi_version()}"
    lines += [
        "",
        "Seconds are the median CPU time of the process (all threads) over the repetitions; "
        "resources are all registrations (custom resources and components). Blueprint and floor run with "
        "the collector paused, as the offline plan does; the last column is the floor with Python's default "
        "garbage-collector settings.",
        f"Cold `python -m stacks plan prod` (new interpreter, imports included): {cli_prod:.2f} s wall.",
        f"Measured {datetime.date.today().isoformat()} on {machine}.",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class PathRow:
    stack: str
    minutes: float
    physical: float | None
    first_workload: str | None
    first_ready: float | None
    findings: int

    @property
    def ratio(self) -> float | None:
        return self.minutes / self.physical if self.physical else None


def critical_path_rows(stacks: list[str]) -> list[PathRow]:
    rows = []
    for stack in stacks:
        rehearsal = run_plan(stack).rehearse()
        # The slowest model server: the deploy is done when it is, and the physical chain follows it (a
        # weight-cache fill Job before it is part of its chain, not the end of it).
        ready = [w for w in rehearsal.workloads if w.ready is not None and not w.fill]
        first = max(ready, key=lambda w: w.ready or 0.0) if ready else None
        rows.append(
            PathRow(
                stack,
                rehearsal.critical_path.minutes,
                rehearsal.critical_path.physical_minutes,
                first.name if first else None,
                first.ready if first else None,
                len(rehearsal.findings),
            )
        )
    return rows


def critical_path_markdown(rows: list[PathRow]) -> str:
    lines = [
        "| stack | critical path min | physical chain min | ratio | last GPU workload | ready at min "
        "| rehearsal problems |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        ratio = f"{r.ratio:.3f}" if r.ratio else "-"
        physical = f"{r.physical:.1f}" if r.physical else "-"
        ready = f"{r.first_ready:.1f}" if r.first_ready is not None else "-"
        workload = r.first_workload or "-"
        lines.append(f"| {r.stack} | {r.minutes:.1f} | {physical} | {ratio} | {workload} | {ready} | {r.findings} |")
    lines += [
        "",
        "Critical path: the longest chain of waits of a first deploy (stacks/critical_path.py time table, run-time "
        "waits of stacks/rehearsal.py). Physical chain: resource group -> network -> cluster -> that cluster's GPU "
        "pools one at a time -> a GPU workload ready (node, image, weights, runtime start; with a weight cache its "
        "fill Job, then the model server loading from it), the longest such chain over the stack's GPU workloads. "
        "Goal: prod ratio <= 1.15.",
    ]
    return "\n".join(lines) + "\n"


def pulumi_version() -> str:
    return metadata.version("pulumi")


def validate_timing(repeat: int) -> int:
    """Wall time of reading and validating each shipped stack file (``read_stack_file`` + ``load_config``: the
    YAML screen, the raw-input checks of every model, pydantic and the cross-field checks), median of ``repeat``."""
    from stacks.config import load_config  # noqa: PLC0415 (only this mode)

    print("| stack | read + validate ms |\n|---|---:|")
    for stack in sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml")):
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            stack_file = plan_module.read_stack_file(stack)
            load_config(stack_file.config_map, stack_file.source)
            samples.append(time.perf_counter() - start)
        print(f"| {stack} | {statistics.median(samples) * 1000:.2f} |")
    return 0


def check_scale(sizes: list[int]) -> int:
    """Wall time of ``python -m stacks check`` (in process: read, validate, evaluate) on the dev plan with its
    AgentPools copied (distinct urns, names and pool groups) until it holds about N resources."""
    from benchmarks.scaled import scaled_plan  # noqa: PLC0415 (only this mode scales plans)
    from stacks.__main__ import main as stacks_main  # noqa: PLC0415 (only this mode plans offline)

    with tempfile.TemporaryDirectory() as tmp:
        base_file = Path(tmp) / "dev.json"
        with contextlib.redirect_stdout(open(os.devnull, "w")):
            stacks_main(["plan", "dev", "--json", str(base_file)])
        base = json_module.loads(base_file.read_text())
        pools = sum(1 for r in base["resources"] if r["type"].endswith(":AgentPool"))
        print("| resources | AgentPools | check s |\n|---:|---:|---:|")
        for size in sizes:
            copies = max(0, (size - len(base["resources"])) // max(pools, 1))
            doc = scaled_plan(base, copies)
            target = Path(tmp) / f"plan-{size}.json"
            target.write_text(json_module.dumps(doc))
            n_pools = sum(1 for r in doc["resources"] if r["type"].endswith(":AgentPool"))
            start = time.perf_counter()
            with contextlib.redirect_stdout(open(os.devnull, "w")):
                stacks_main(["check", str(target)])
            print(f"| {len(doc['resources'])} | {n_pools} | {time.perf_counter() - start:.2f} |")
    return 0


def diff_scale(sizes: list[int]) -> int:
    """Wall time of ``python -m stacks diff`` (in process: read both files, compare, judge, write ``--json`` and
    ``--markdown``) between the dev plan scaled to about N resources and a copy where every AgentPool's
    ``minCount`` changes (every pool an update, every rule walks every step)."""
    from stacks.__main__ import main as stacks_main  # noqa: PLC0415 (only this mode plans offline)

    sys.path.insert(0, str(ROOT / "tests"))
    from test_bad_plan_input import scaled_plan  # noqa: PLC0415 (tests/ joins the path above)

    with tempfile.TemporaryDirectory() as tmp:
        base_file = Path(tmp) / "dev.json"
        with contextlib.redirect_stdout(open(os.devnull, "w")):
            stacks_main(["plan", "dev", "--json", str(base_file)])
        base = json_module.loads(base_file.read_text())
        pools = sum(1 for r in base["resources"] if r["type"].endswith(":AgentPool"))
        print("| resources | steps changed | diff s |\n|---:|---:|---:|")
        for size in sizes:
            doc = scaled_plan(base, max(0, (size - len(base["resources"])) // max(pools, 1)))
            head = copy.deepcopy(doc)
            for resource in head["resources"]:
                if resource["type"].endswith(":AgentPool"):
                    resource["inputs"]["minCount"] = int(resource["inputs"].get("minCount") or 0) + 1
            files = [Path(tmp) / f"{side}-{size}.json" for side in ("base", "head")]
            for file, document in zip(files, (doc, head), strict=True):
                file.write_text(json_module.dumps(document))
            out = Path(tmp) / "diff.json"
            start = time.perf_counter()
            with contextlib.redirect_stdout(open(os.devnull, "w")):
                stacks_main(["diff", *map(str, files), "--json", str(out), "--markdown", str(Path(tmp) / "c.md")])
            elapsed = time.perf_counter() - start
            changed = len(json_module.loads(out.read_text())["steps"])
            print(f"| {len(doc['resources'])} | {changed} | {elapsed:.2f} |")
    return 0


UI_REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "dev": ("dev", {"team": "research", "cluster": "weu1", "model": "llama-3.2-3b-instruct", "precision": "fp8"}),
    "dev, imported model": (
        "dev",
        {"team": "research", "cluster": "weu1", "precision": "int4", "source": "Qwen/Qwen2.5-7B-Instruct-AWQ"},
    ),
    "staging": ("staging", {"team": "research", "cluster": "weu1", "model": "llama-3.1-8b-instruct"}),
    "prod": ("prod", {"team": "inference", "cluster": "weu1", "model": "llama-3.1-8b-instruct", "precision": "fp8"}),
}
"""Label -> (stack, request). The imported model's ``params`` come from uploading UI_IMPORT to /api/import."""
UI_IMPORT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "hf-configs" / "qwen2.5-7b-instruct.json"


def ui_latency(repeat: int) -> int:
    """Wall time of the self-service page's requests (``python -m stacks ui``), over HTTP to the real server on
    127.0.0.1: the stack at a glance (cached per file content), a what-if fit, and a proposed change (a full
    offline plan of the edited file: root model, program under mocks, policies, rehearsal)."""
    import http.client  # noqa: PLC0415 (only this mode)
    import threading  # noqa: PLC0415

    from stacks.ui.server import serve  # noqa: PLC0415
    from stacks.ui.service import StackService  # noqa: PLC0415

    def call(port: int, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> float:
        return send(port, token, method, path, body)[0]

    def send(port: int, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[float, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Host": f"127.0.0.1:{port}", "Content-Type": "application/json", "X-CSRF-Token": token}
        start = time.perf_counter()
        connection.request(method, path, json_module.dumps(body) if body is not None else None, headers)
        response = connection.getresponse()
        payload = response.read()
        elapsed = time.perf_counter() - start
        connection.close()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}")
        return elapsed, json_module.loads(payload)

    print(
        "| stack | start s | GET /api/state ms | POST /api/import ms | POST /api/fit ms | POST /api/change s |\n"
        "|---|---:|---:|---:|---:|---:|"
    )
    upload = {"configJson": UI_IMPORT.read_text(), "fileName": UI_IMPORT.name}
    for label, (stack, request) in UI_REQUESTS.items():
        start = time.perf_counter()
        service = StackService(stack)
        server = serve(service, 0)
        started = time.perf_counter() - start
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        body = {"name": "bench", "contextLength": 4096, "concurrency": 4, **request}
        try:
            state = [call(server.port, server.csrf_token, "GET", "/api/state") for _ in range(repeat)]
            imports = [send(server.port, server.csrf_token, "POST", "/api/import", upload) for _ in range(repeat)]
            if "model" not in request:
                body["params"] = imports[0][1]["params"]
            fit = [call(server.port, server.csrf_token, "POST", "/api/fit", body) for _ in range(repeat)]
            change = [call(server.port, server.csrf_token, "POST", "/api/change", body) for _ in range(repeat)]
        finally:
            server.shutdown()
            server.server_close()
            service.close()
        print(
            f"| {label} | {started:.2f} | {statistics.median(state) * 1000:.1f} | "
            f"{statistics.median(t for t, _ in imports) * 1000:.1f} | "
            f"{statistics.median(fit) * 1000:.1f} | {statistics.median(change):.2f} |"
        )
    return 0


PACKING_POOLS = {
    # group: (vmSize, maxCount, migProfile, osDiskSizeGb)
    "t4": ("Standard_NC64as_T4_v3", 4, None, None),
    "a100": ("Standard_NC24ads_A100_v4", 6, "MIG1g", None),
    "a100g": ("Standard_NC24ads_A100_v4", 6, "MIG3g", None),
    "a100w": ("Standard_NC96ads_A100_v4", 4, None, 1024),
    "h100": ("Standard_NC80adis_H100_v5", 6, None, 1024),
}
PACKING_PROFILES = {
    "t4": {"kind": "whole", "gpuModel": "T4"},
    "t4-shared": {"kind": "timeShared", "gpuModel": "T4", "replicas": 4},
    "a100-1g": {"kind": "mig", "gpuModel": "A100-80GB", "migProfile": "MIG1g"},
    "a100-3g": {"kind": "mig", "gpuModel": "A100-80GB", "migProfile": "MIG3g"},
    "a100": {"kind": "whole", "gpuModel": "A100-80GB"},
    "h100": {"kind": "whole", "gpuModel": "H100-NVL"},
}
AWQ = {"qwen2.5-7b-instruct": "Qwen/Qwen2.5-7B-Instruct-AWQ", "qwen2.5-72b-instruct": "Qwen/Qwen2.5-72B-Instruct-AWQ"}
PACKING_MIX: dict[str, tuple[str, str, int, int, int]] = {
    # name: (catalog model, precision, contextLength, concurrency, replicas)
    "chat-3b": ("llama-3.2-3b-instruct", "fp8", 8192, 3, 2),
    "edge-3b": ("llama-3.2-3b-instruct", "bf16", 4096, 4, 1),
    "qwen-awq": ("qwen2.5-7b-instruct", "int4", 4096, 4, 2),
    "qwen-bf16": ("qwen2.5-7b-instruct", "bf16", 8192, 8, 1),
    "mistral": ("mistral-7b-instruct-v0.3", "bf16", 8192, 8, 1),
    "llama-8b": ("llama-3.1-8b-instruct", "bf16", 8192, 8, 2),
    "llama-8b-fp8": ("llama-3.1-8b-instruct", "fp8", 4096, 4, 1),
    "phi3": ("phi-3-mini-4k-instruct", "bf16", 4096, 4, 2),
    "gemma-9b": ("gemma-2-9b-it", "bf16", 8192, 4, 1),
    "gemma-27b": ("gemma-2-27b-it", "bf16", 8192, 4, 1),
    "mixtral": ("mixtral-8x7b-instruct-v0.1", "bf16", 8192, 8, 1),
    "llama-70b": ("llama-3.3-70b-instruct", "fp8", 8192, 4, 2),
    "llama-70b-int4": ("llama-3.3-70b-instruct", "int4", 8192, 8, 1),
    "qwen-72b-awq": ("qwen2.5-72b-instruct", "int4", 8192, 4, 1),
}


def packing_config(mix: dict[str, tuple[str, str, int, int, int]]) -> Any:
    """The dev stack with one cluster of five GPU pools (T4 x4, A100 1g and 3g MIG, 4 x A100, 2 x H100 NVL), six
    sharing profiles and ``mix`` as one team's models."""
    from stacks.config import load_config  # noqa: PLC0415

    stack_file = plan_module.read_stack_file("dev")
    config_map = dict(stack_file.config_map)
    clusters = json_module.loads(config_map["ai-platform:clusters"])
    pools = {}
    for group, (vm_size, max_count, mig, disk) in PACKING_POOLS.items():
        slot: dict[str, Any] = {"vmSize": vm_size, "minCount": 0, "maxCount": max_count}
        if mig:
            slot["migProfile"] = mig
        if disk:
            slot["osDiskSizeGb"] = disk
        pools[group] = {"active": "blue", "slots": {"blue": slot}}
    clusters["weu1"]["gpuPools"] = pools
    config_map["ai-platform:clusters"] = json_module.dumps(clusters)
    config_map["ai-platform:dra"] = json_module.dumps({"profiles": PACKING_PROFILES})
    config_map["ai-platform:teams"] = json_module.dumps({"bench": {"profiles": dict.fromkeys(PACKING_PROFILES, 64)}})
    models = {}
    for name, (model, precision, context, concurrency, replicas) in mix.items():
        entry: dict[str, Any] = {
            "team": "bench",
            "cluster": "weu1",
            "model": model,
            "precision": precision,
            "contextLength": context,
            "concurrency": concurrency,
            "replicas": replicas,
        }
        if precision == "int4" and model in AWQ:
            entry["source"] = AWQ[model]
        models[name] = entry
    config_map["ai-platform:models"] = json_module.dumps(models)
    return load_config(config_map, stack_file.source)


def packing_markdown(repeat: int) -> str:
    """Fewest-GPU packing on mixes of the 14-model set: GPUs placed vs the lower bound and vs choosing each
    deployment's cheapest candidate per replica (the placement before issue 14)."""
    from components.serving import analyse  # noqa: PLC0415
    from components.serving.fit import place  # noqa: PLC0415

    lines = [
        "| models | replicas | combinations | search | GPUs placed | memory bound | above it | slot bound | "
        "above it | cheapest-per-replica GPUs | USD/h placed | USD/h cheapest-per-replica | analyse s |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    names = list(PACKING_MIX)
    for size in (4, 8, 12, len(names)):
        mix = {name: PACKING_MIX[name] for name in names[:size]}
        cfg = packing_config(mix).serving
        seconds = []
        for _ in range(repeat):
            start = time.process_time()
            plan, issues = analyse(cfg)
            seconds.append(time.process_time() - start)
        if issues:
            raise RuntimeError(f"packing mix of {size}: {issues[0]}")
        summary = plan.to_json()
        fits = list(plan.fits.values())
        combinations = 1
        for fit in fits:
            combinations *= len(fit.options)

        def cost(placements: list[Any]) -> float:
            return sum(p.gpus * (p.hourly_usd_per_gpu or 0.0) for p in placements)

        placed_cost = cost(plan.placements)
        for fit in fits:
            fit.chosen, fit.shared_claim = fit.options[0], None
        greedy = place(fits)
        from components.serving.packing import EXACT_LIMIT  # noqa: PLC0415

        lines.append(
            f"| {size} | {sum(f.spec.replicas for f in fits)} | {combinations:,} | "
            f"{'exact' if combinations <= EXACT_LIMIT else 'local'} | {summary['gpusNeeded']} | "
            f"{summary['lowerBoundGpus']} | {summary['gpusAboveBound']} | {summary['slotBoundGpus']} | "
            f"{summary['gpusNeeded'] - summary['slotBoundGpus']} | {sum(p.gpus for p in greedy)}"
            f"{f' ({over} over maxCount)' if (over := sum(p.surge_nodes > p.max_nodes for p in greedy)) else ''} | "
            f"{placed_cost:.2f} | {cost(greedy):.2f} | {statistics.median(seconds):.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per case (median is reported)")
    parser.add_argument("--sizes", default="1,5,10,20", help="cluster counts of the generated stacks")
    parser.add_argument("--markdown", type=Path, help="also write the results table to this file")
    parser.add_argument("--critical-path-only", action="store_true", help="only the deploy critical path table")
    parser.add_argument(
        "--check-scale",
        help="only `stacks check` time on dev plans with N resources (comma list; AgentPools copied)",
    )
    parser.add_argument(
        "--diff-scale",
        help="only `stacks diff` time between dev plans with N resources (comma list; every AgentPool updated)",
    )
    parser.add_argument("--ui", action="store_true", help="only the self-service page's request latencies")
    parser.add_argument("--packing", action="store_true", help="only the fewest-GPU packing table (issue 14)")
    parser.add_argument("--validate", action="store_true", help="only reading and validating the shipped stacks")
    args = parser.parse_args(argv)
    if args.validate:
        return validate_timing(max(args.repeat, 20))
    if args.packing:
        print(packing_markdown(args.repeat))
        return 0
    if args.diff_scale:
        return diff_scale([int(n) for n in args.diff_scale.split(",")])
    if args.ui:
        return ui_latency(args.repeat)
    if args.check_scale:
        return check_scale([int(n) for n in args.check_scale.split(",")])

    rows: list[Row] = []
    shipped = sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml"))
    paths = critical_path_markdown(critical_path_rows(shipped))
    print(paths)
    if args.critical_path_only:
        if args.markdown:
            args.markdown.write_text(paths)
        return 0
    failures: list[str] = []

    def run(case: str, stack: str, config_file: Path | None) -> None:
        try:
            rows.append(measure(case, stack, config_file, args.repeat))
        except Exception as exc:  # a case that does not plan is reported, the others still run
            failures.append(f"{case}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            print(f"{case:<24} FAILED: {failures[-1]}", flush=True)
            return
        print(_line(rows[-1]), flush=True)

    for stack in shipped:
        run(stack, stack, None)
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",") if s):
            path = Path(tmp) / f"Pulumi.generated-{size}.yaml"
            path.write_text(yaml.safe_dump(generated_stack(size), sort_keys=False))
            run(f"generated ({size} clusters)", "prod", path)
    cli_prod = cold_cli_seconds("prod", 3)

    table = markdown(rows, cli_prod)
    print()
    print(table)
    generated = [r for r in rows if r.case.startswith("generated")]
    if len(generated) >= 2:
        first, last = generated[0], generated[-1]
        print(
            f"cost per resource {first.clusters} -> {last.clusters} clusters: {first.ms_per_resource:.1f} -> "
            f"{last.ms_per_resource:.1f} ms ({last.ms_per_resource / first.ms_per_resource:.2f}x)"
        )
    if rows:
        worst = max(rows, key=lambda r: r.ratio)
        print(f"worst blueprint/floor ratio: {worst.ratio:.2f} ({worst.case}); goal <= 1.20")
    if args.markdown:
        args.markdown.write_text(table + "\n" + paths)
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


def _line(row: Row) -> str:
    return (
        f"{row.case:<24} {row.resources:5d} resources  blueprint {row.blueprint_s:7.3f} s "
        f"({row.ms_per_resource:5.1f} ms/res)  floor {row.floor_s:7.3f} s  ratio {row.ratio:.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
