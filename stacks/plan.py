"""The offline plan: run the real program under Pulumi's mock runtime and record what it would register.

No CLI, no credentials, no cloud: the stack file is read the way the CLI reads it, the program runs as a
preview (values that only exist after creation stay unknown), and every registration request the engine
would receive is recorded with its inputs, parent, dependencies and options. The result is the plan
document (``platform-plan/v1``), the contract other tools (policy checks, cost, CI summaries) build on.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.sync_await import _sync_await

from components._common import PROJECT, ConfigError
from components.serving import stack_cost
from components.serving.workload import token_config_keys
from policies.offline import evaluate_plan
from stacks.config import PlatformConfig, load_config
from stacks.platform import Platform, build_platform
from stacks.rehearsal import Rehearsal, rehearse

SCHEMA = "platform-plan/v1"
ROOT = Path(__file__).resolve().parent.parent
SECRET = "[secret]"
DEPLOYER_UNKNOWN = "00000000-0000-0000-0000-000000000000"
DEPLOYER_PLACEHOLDER = "{unknown}"
_SECRET_SIG = rpc._special_sig_key
_SECRET_VALUE = rpc._special_secret_sig
_RESOURCE_VALUE = rpc._special_resource_sig


@dataclass
class StackFile:
    """A stack's configuration as the CLI would hand it to the program."""

    stack: str
    source: str
    config_map: dict[str, str]
    secret_keys: list[str]


def read_stack_file(stack: str, config_file: str | Path | None = None) -> StackFile:
    path = Path(config_file) if config_file else ROOT / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise ConfigError([f"{path.name}: no such stack file ({path})"])
    try:
        # libyaml's safe loader when available: the pure-Python one took 13 ms of a 250 ms dev plan.
        document = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path.name}: not valid YAML: {exc}"]) from None
    raw = document.get("config") if isinstance(document, dict) else None
    if not isinstance(raw, dict):
        raise ConfigError([f"{path.name}: expected a top-level 'config:' map"])
    config_map: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in raw.items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret_keys.append(full_key)
            config_map[full_key] = SECRET
            continue
        config_map[full_key] = _cli_string(value)
    return StackFile(stack, path.name, config_map, secret_keys)


def _cli_string(value: Any) -> str:
    """How the Pulumi CLI passes a config value to a program: strings as-is, everything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)  # YAML dates (waiver expiries) as ISO strings


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    dependencies: list[str]
    protect: bool
    ignore_changes: list[str]
    provider: str | None = None
    """URN of the explicit provider (e.g. a cluster's Kubernetes provider), if any."""
    retain_on_delete: bool = False
    """Pulumi forgets the resource instead of deleting it (team namespaces)."""
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    """``custom_timeouts`` of the register request (Go durations such as ``"60m"``), only those set."""
    replace_on_changes: list[str] = field(default_factory=list)
    """Property paths whose change forces a replacement (immutable Kubernetes specs)."""
    delete_before_replace: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "custom": self.custom,
            "inputs": self.inputs,
            "dependencies": self.dependencies,
            "protect": self.protect,
            "ignoreChanges": self.ignore_changes,
            "provider": self.provider,
            "retainOnDelete": self.retain_on_delete,
            "customTimeouts": self.custom_timeouts,
            "replaceOnChanges": self.replace_on_changes,
            "deleteBeforeReplace": self.delete_before_replace,
        }


class _PlanMocks(pulumi_mocks.Mocks):
    """Answers the engine's questions the way a preview of a brand-new stack would."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        # A preview of a create knows the inputs, never the id or computed outputs. Kubernetes objects
        # echo their inputs; Azure resources reshape theirs, so only plain top-level inputs are echoed.
        if not args.custom:
            return "", {}
        if args.typ.startswith("kubernetes:"):
            return "", dict(args.inputs)
        return "", {k: v for k, v in args.inputs.items() if isinstance(v, (str, int, float, bool))}

    def call(self, args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        # Who runs the deployment (subscription, tenant, principal) is unknown offline. The SDK's typed
        # results refuse a missing value, so the nil GUID stands in and the plan reports it as unknown.
        return dict.fromkeys(("clientId", "objectId", "subscriptionId", "tenantId"), DEPLOYER_UNKNOWN)


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(
                Registration(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent or None,
                    custom=bool(request.custom),
                    inputs=plain(json_format.MessageToDict(request.object)),
                    dependencies=sorted(set(request.dependencies)),
                    protect=bool(request.protect),
                    ignore_changes=list(request.ignoreChanges),
                    provider=request.provider.rsplit("::", 1)[0] if request.provider else None,
                    retain_on_delete=bool(request.retainOnDelete),
                    custom_timeouts={
                        op: value
                        for op in ("create", "update", "delete")
                        if (value := getattr(request.customTimeouts, op))
                    },
                    replace_on_changes=list(request.replaceOnChanges),
                    delete_before_replace=bool(request.deleteBeforeReplace),
                )
            )
        return response


def plain(value: Any) -> Any:
    """Wire values to plan JSON: unknowns become null, secrets ``[secret]``, resource references their URN.

    The deploying identity's ids are unknown offline: alone they are null, inside a longer string (an ARM id
    built from the subscription) they read ``{unknown}``.
    """
    if isinstance(value, str):
        if value in (rpc.UNKNOWN, DEPLOYER_UNKNOWN):
            return None
        # An id built from the deployer's subscription (a role definition id) keeps its known parts: the
        # rehearsal reads the role GUID at its end.
        return value.replace(DEPLOYER_UNKNOWN, DEPLOYER_PLACEHOLDER)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        sig = value.get(_SECRET_SIG)
        if sig == _SECRET_VALUE:
            return SECRET
        if sig == _RESOURCE_VALUE:
            return value.get("urn")
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass
class Plan:
    project: str
    stack: str
    config: PlatformConfig
    platform: Platform
    resources: list[Registration]
    outputs: dict[str, Any]
    policy_violations: list[dict[str, Any]] = field(default_factory=list)
    cost: dict[str, Any] = field(default_factory=lambda: {"monthlyUsd": 0.0, "items": []})
    rehearsal: Rehearsal | None = None

    def rehearse(self) -> Rehearsal:
        """The first-deploy rehearsal of these resources (computed once)."""
        if self.rehearsal is None:
            self.rehearsal = rehearse([r.to_json() for r in self.resources])
        return self.rehearsal

    def exit_code(self) -> int:
        """``stacks plan``'s exit code: 1 when a mandatory policy fails or the rehearsal finds an error."""
        return exit_code(self.policy_violations, [f.to_json() for f in self.rehearse().findings])

    def to_json(self) -> dict[str, Any]:
        resources = [r.to_json() for r in self.resources]
        rehearsal = self.rehearse()
        return {
            "schema": SCHEMA,
            "project": self.project,
            "stack": self.stack,
            "environment": self.config.environment,
            "resources": resources,
            "policyViolations": self.policy_violations,
            "cost": self.cost,
            "criticalPath": rehearsal.critical_path.to_json(),
            "rehearsal": rehearsal.to_json(),
            "policy": self.config.policy.to_json(),
            "outputs": self.outputs,
        }


def exit_code(violations: list[dict[str, Any]], findings: list[dict[str, Any]]) -> int:
    """1 when a mandatory policy fails or the first-deploy rehearsal finds an error (a real deploy would fail)."""
    mandatory = any(v.get("enforcement") == "mandatory" for v in violations)
    return 1 if mandatory or any(f.get("severity") == "error" for f in findings) else 0


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while the program runs under the mock runtime.

    Every registration allocates thousands of short-lived objects (Outputs, futures, tasks); with the
    collector on, each collection walks every live object, which doubled the plan time and made the
    cost per resource grow with the stack size (1.6x from 1 to 20 clusters; benchmarks/bench.py). The
    plan is short-lived: the first automatic collection after it frees the cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run_program(stack_file: StackFile) -> tuple[PlatformConfig, Platform, list[Registration], dict[str, Any]]:
    """Validate, then run the composition under mocks as a preview; nothing registers on a config error."""
    cfg = load_config(stack_file.config_map, stack_file.source)
    monitor = _RecordingMonitor(_PlanMocks())
    pulumi_settings.ROOT.set(None)
    # The offline plan never holds real secrets: a Hugging Face token the models need and the stack file does not
    # carry stands in as [secret] (`pulumi preview` refuses it with the fix: components/serving/workload.py).
    assumed = [k for k in token_config_keys(cfg.models) if k not in stack_file.config_map]
    config_map = {**stack_file.config_map, **dict.fromkeys(assumed, SECRET)}
    pulumi.runtime.set_all_config(config_map, [*stack_file.secret_keys, *assumed])
    pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack=stack_file.stack, preview=True, monitor=monitor)
    holder: dict[str, Platform] = {}

    def program() -> None:
        holder["platform"] = build_platform(cfg)

    with _gc_paused():
        _sync_await(pulumi.runtime.stack.run_pulumi_func(program))
        platform = holder["platform"]
        outputs = _sync_await(_resolve(platform.outputs))
    # Registration order depends on when outputs resolve; URN order is stable between runs.
    return cfg, platform, sorted(monitor.registrations, key=lambda r: r.urn), outputs


async def _resolve(value: Any) -> Any:
    if isinstance(value, pulumi.Output):
        if await value.is_secret():
            return SECRET
        if not await value.is_known():
            return None
        return await _resolve(await value.future())
    if isinstance(value, Mapping):
        return {k: await _resolve(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [await _resolve(v) for v in value]
    return value


def run_plan(stack: str, config_file: str | Path | None = None) -> Plan:
    stack_file = read_stack_file(stack, config_file)
    cfg, platform, registrations, outputs = run_program(stack_file)
    plan = Plan(PROJECT, stack, cfg, platform, registrations, outputs)
    plan.cost = stack_cost(cfg, [r.to_json() for r in registrations])
    plan.policy_violations = [v.to_json() for v in evaluate_plan(plan.to_json())]
    return plan
