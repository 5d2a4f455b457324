"""The offline plan: run the real program under Pulumi's mock runtime and record what it would register.

No CLI, no credentials, no cloud: the stack file is read the way the CLI reads it, the program runs as a
preview (values that only exist after creation stay unknown), and every registration request the engine
would receive is recorded with its inputs, parent, dependencies and options. The result is the plan
document (``platform-plan/v1``), the contract other tools (policy checks, cost, CI summaries) build on.
"""

from __future__ import annotations

import contextlib
import difflib
import gc
import json
import math
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

from components._common import PROJECT, ConfigError, display_key, input_issues, redacted, secret_problem
from components.serving import stack_cost
from components.serving.workload import token_config_keys
from policies.offline import evaluate_plan
from stacks.config import PlatformConfig, format_issues, load_config
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


MAX_STACK_FILE_BYTES = 1 << 20
"""A stack file is a few kilobytes; anything over 1 MiB is refused before it is parsed."""
MAX_DEPTH = 64
"""Nesting levels of collections (the deepest shipped stack file has 8)."""
MAX_NODES = 100_000
"""Scalars and collections after alias expansion: an alias bomb is refused before it is expanded."""
MAX_ALIASES = 1_000
KNOWN_NAMESPACES = (PROJECT, f"{PROJECT}-secrets", "azure-native", "kubernetes", "pulumi")
"""Config namespaces something reads: the program's two and the providers' (plus the CLI's ``pulumi:``)."""
_BAD_STACK_PARTS = ("::", "/", "\\", "..")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when available: the pure-Python one took 13 ms of a 250 ms dev plan."""


def read_stack_file(stack: str, config_file: str | Path | None = None) -> StackFile:
    """Read a stack file the way the CLI does, refusing every bad input with one line naming the file."""
    default_name = f"Pulumi.{stack}.yaml"
    bad_part = next((part for part in _BAD_STACK_PARTS if part in stack), None)
    if bad_part is not None or not stack.strip() or any(ord(c) < 32 for c in stack):
        name = Path(config_file).name if config_file else default_name
        raise ConfigError(
            [
                f"{name}: stack name {stack!r} is not allowed (got {bad_part or 'an empty or control character'!r}; "
                "allowed: letters, digits, '-', '_', '.'). Fix: pass a plain stack name such as dev"
            ]
        )
    path = Path(config_file) if config_file else ROOT / default_name
    return stack_file_from_text(stack, _read_text(path), path.name)


def stack_file_from_text(stack: str, text: str, name: str) -> StackFile:
    """A stack file's text (already read and decoded) as the CLI would hand it to the program.

    ``read_stack_file`` reads the file and calls this; the local UI calls it on an edited text before it
    offers the change, so both refuse the same input with the same lines (``name`` names the file).
    """
    if len(text.encode("utf-8")) > MAX_STACK_FILE_BYTES:
        raise ConfigError([f"{name}: stack file too large (got over {MAX_STACK_FILE_BYTES} bytes; allowed: 1 MiB)"])
    document = _parse(text, name)
    raw = document.get("config") if isinstance(document, dict) else None
    if not isinstance(raw, dict):
        raise ConfigError([f"{name}: expected a top-level 'config:' map"])
    config_map: dict[str, str] = {}
    secret_keys: list[str] = []
    platform_values: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            raise ConfigError([f"{name}: config: keys must be strings (got {key!r})"])
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        _check_namespace(full_key, name)
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret_keys.append(full_key)
            config_map[full_key] = SECRET
            continue
        _check_plaintext(full_key, value, name)
        if full_key.startswith(f"{PROJECT}:"):
            platform_values[full_key[len(PROJECT) + 1 :]] = value
        config_map[full_key] = _cli_string(value)
    # The YAML types, before the CLI's string/JSON form loses them (a top-level `owner: ~` would arrive as
    # "null", a date as a string): the same checks the models run on their input, on the values as typed.
    issues = input_issues(PlatformConfig, platform_values, deep=True)
    if issues:
        raise ConfigError(format_issues(issues, name))
    return StackFile(stack, name, config_map, secret_keys)


PROVIDER_SECRET_KEYS = frozenset(
    {
        "azure-native:clientSecret",
        "azure-native:clientCertificatePassword",
        "azure-native:oidcToken",
        "azure-native:oidcRequestToken",
    }
)
"""Provider settings that are credentials themselves (the azure-native provider's installation and configuration
page, pulumi.com/registry/packages/azure-native/installation-configuration): never plaintext."""


def _check_plaintext(full_key: str, value: Any, name: str) -> None:
    """A plaintext value where an encrypted one belongs: anything in ``ai-platform-secrets``, and credentials in
    the providers' namespaces (``ai-platform`` values are checked by the models, with their key paths)."""
    namespace, _, short = full_key.partition(":")
    shown = display_key(full_key)
    fix = f"Fix: pulumi config set --secret {shown} <value> (and remove the plaintext line)"
    if namespace == f"{PROJECT}-secrets":
        raise ConfigError(
            [
                f"{name}: {shown}: is in plaintext, but every {namespace} value is a secret (got "
                f"{redacted(str(value))}; allowed: a `secure:` value). {fix}"
            ]
        )
    if namespace == PROJECT:
        return
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    problem = secret_problem(short, text)
    if full_key in PROVIDER_SECRET_KEYS:
        problem = "is a provider credential"
    elif full_key == "kubernetes:kubeconfig" and any(k in text for k in ("token:", "client-key-data:", "password:")):
        problem = "is a kubeconfig with embedded credentials"
    if problem is not None:
        raise ConfigError(
            [f"{name}: {shown}: {problem} in plaintext (got {redacted(text)}; allowed: a `secure:` value). {fix}"]
        )


def _read_text(path: Path) -> str:
    if path.is_dir():
        raise ConfigError([f"{path.name}: is a directory, not a stack file ({path}). Fix: pass the YAML file"])
    if not path.is_file():
        raise ConfigError([f"{path.name}: no such stack file ({path})"])
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_STACK_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError([f"{path.name}: cannot read the stack file ({exc.strerror or exc})"]) from None
    if len(data) > MAX_STACK_FILE_BYTES:
        raise ConfigError(
            [f"{path.name}: stack file too large (got over {MAX_STACK_FILE_BYTES} bytes; allowed: 1 MiB)"]
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError([f"{path.name}: not UTF-8 (got a UTF-16 byte-order mark). Fix: save the file as UTF-8"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            [
                f"{path.name}: not UTF-8 at line {line}, column {column} "
                f"(got byte 0x{data[exc.start]:02x}). Fix: save the file as UTF-8"
            ]
        ) from None


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _parse(text: str, name: str) -> Any:
    try:
        _screen(text, name)
        return yaml.load(text, Loader=_LOADER) or {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = _one_line(exc.problem or exc.context or "syntax error")
        raise ConfigError([f"{name}: not valid YAML{where}: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{name}: not valid YAML: {_one_line(str(exc))}"]) from None


@dataclass
class _Frame:
    path: tuple[str | int, ...]
    mapping: bool
    anchor: str | None
    line: int
    nodes: int = 1
    keys: dict[str, int] = field(default_factory=dict)
    expect_key: bool = True
    key: str | int = "?"
    index: int = 0


def _dotted(path: tuple[str | int, ...]) -> str:
    """``config.ai-platform:clusters.weu1`` reads ``ai-platform:clusters.weu1`` as in config errors."""
    parts = [display_key(p) for p in (path[1:] if path[:1] == ("config",) and len(path) > 1 else path)]
    return ".".join(parts) or "(top level)"


def _screen(text: str, name: str) -> None:
    """One streaming pass over the parser's events before anything is built: bounded nesting, alias expansion
    and node count, and no duplicate mapping keys (the Pulumi CLI refuses them; PyYAML keeps the last)."""
    loader = _LOADER(text)
    stack: list[_Frame] = []
    anchors: dict[str, int] = {}
    total = aliases = 0
    try:
        while (event := loader.get_event()) is not None:
            if isinstance(event, (yaml.StreamStartEvent, yaml.DocumentStartEvent, yaml.DocumentEndEvent)):
                continue
            if isinstance(event, yaml.StreamEndEvent):
                break
            line = event.start_mark.line + 1
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                done = stack.pop()
                if done.anchor:
                    anchors[done.anchor] = done.nodes
                _count(stack, done.nodes, None, line)
                continue
            parent = stack[-1] if stack else None
            here: tuple[str | int, ...] = ()
            if parent is not None:
                here = (*parent.path, parent.key if parent.mapping else parent.index)
            if isinstance(event, yaml.AliasEvent):
                aliases += 1
                if event.anchor not in anchors:
                    recursive = any(f.anchor == event.anchor for f in stack)
                    problem = "refers to its own anchor" if recursive else "names no anchor defined before it"
                    raise ConfigError(
                        [
                            f"{name}: {_dotted(here)}: alias *{event.anchor} {problem} at line {line} "
                            f"(got *{event.anchor})"
                        ]
                    )
                size = anchors[event.anchor]
                total += size
                if aliases > MAX_ALIASES or total > MAX_NODES:
                    raise ConfigError(
                        [
                            f"{name}: {_dotted(here)}: too many YAML aliases at line {line} (got over "
                            f"{MAX_ALIASES if aliases > MAX_ALIASES else MAX_NODES} "
                            f"{'aliases' if aliases > MAX_ALIASES else 'expanded nodes'}; allowed: {MAX_ALIASES} "
                            f"aliases, {MAX_NODES} nodes). Fix: write the values out instead of nesting aliases"
                        ]
                    )
                _count(stack, size, None, line)
                continue
            total += 1
            if total > MAX_NODES:
                raise ConfigError([f"{name}: too many YAML nodes (got over {MAX_NODES}; allowed: {MAX_NODES})"])
            if isinstance(event, yaml.ScalarEvent):
                if event.anchor:
                    anchors[event.anchor] = 1
                _count(stack, 1, event.value, line, name)
                continue
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if parent is not None and parent.mapping and parent.expect_key:
                    here = (*parent.path, "?")  # a complex key: counted when it ends, not checked for duplicates
                if len(stack) >= MAX_DEPTH:
                    raise ConfigError(
                        [
                            f"{name}: {_dotted(here)}: nested too deeply at line {line} (got over {MAX_DEPTH} "
                            f"levels; allowed: {MAX_DEPTH})"
                        ]
                    )
                stack.append(_Frame(here, isinstance(event, yaml.MappingStartEvent), event.anchor, line))
    finally:
        loader.dispose()


def _count(stack: list[_Frame], nodes: int, scalar: str | None, line: int, name: str = "") -> None:
    """A child of the innermost collection finished: add its nodes, and check a mapping key for duplicates."""
    if not stack:
        return
    frame = stack[-1]
    frame.nodes += nodes
    if not frame.mapping:
        frame.index += 1
        return
    if frame.expect_key:
        frame.expect_key = False
        frame.key = scalar if scalar is not None else "?"
        if scalar is not None and scalar != "<<":
            first = frame.keys.get(scalar)
            if first is not None:
                raise ConfigError(
                    [
                        f"{name}: {_dotted((*frame.path, scalar))}: duplicate key at line {line} (got it again; "
                        f"allowed: once per map, first at line {first}). Fix: keep one of the two"
                    ]
                )
            frame.keys[scalar] = line
    else:
        frame.expect_key = True


def _check_namespace(key: str, name: str) -> None:
    namespace = key.split(":", 1)[0]
    if namespace in KNOWN_NAMESPACES:
        return
    close = difflib.get_close_matches(namespace, KNOWN_NAMESPACES, n=1, cutoff=0.6)
    fix = (
        f"Fix: did you mean {close[0]}:{display_key(key.split(':', 1)[1])}?"
        if close
        else "Fix: remove it or use a known namespace"
    )
    raise ConfigError(
        [
            f"{name}: {display_key(key)}: unknown config namespace (got {namespace!r}; allowed: "
            f"{', '.join(KNOWN_NAMESPACES)}). {fix}"
        ]
    )


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
    aliases: list[dict[str, Any]] = field(default_factory=list)
    """The ``aliases`` option as the engine receives it: alias specs (``name``, ``type``, ``parentUrn``, ``noParent``,
    ``stack``, ``project``; unset fields mean "this resource's own") or ``{"urn": ...}`` for full alias URNs."""

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
            "aliases": self.aliases,
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
                    aliases=[
                        *(_alias(alias) for alias in request.aliases if not _sdk_version_alias(alias)),
                        *({"urn": urn} for urn in request.aliasURNs),
                    ],
                )
            )
        return response


def _sdk_version_alias(alias: Any) -> bool:
    """An alias the provider SDKs add on their own: the same resource under another type token only (azure-native
    registers ~100 per ManagedCluster for old API versions, ``azure-native:containerservice/v20170831:
    ManagedCluster``; pulumi-kubernetes old group versions, ``kubernetes:apps/v1beta1:Deployment``). They never name
    a previous URN of this program's resources, so the plan leaves type-only alias specs out."""
    if alias.WhichOneof("alias") != "spec":
        return False
    spec = alias.spec
    return bool(spec.type) and not (spec.name or spec.stack or spec.project or spec.parentUrn or spec.noParent)


def _alias(alias: Any) -> dict[str, Any]:
    """One ``Alias`` message: its spec fields as set (``{"urn": ...}`` for a full alias URN)."""
    if alias.WhichOneof("alias") == "urn":
        return {"urn": alias.urn}
    spec: dict[str, Any] = json_format.MessageToDict(alias.spec)
    return spec


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


def plan_json(document: dict[str, Any]) -> str:
    """The plan document as strict JSON: NaN and infinities are not JSON (``json.dumps`` would write them as
    bare ``NaN``/``Infinity``, which other parsers refuse), so one stops the plan with the path that holds it."""
    try:
        return json.dumps(document, indent=2, sort_keys=False, allow_nan=False) + "\n"
    except ValueError:
        where = _non_finite(document, ()) or ()
        raise ConfigError(
            [f"plan: {'.'.join(str(p) for p in where) or '(root)'}: is not a finite number, so the plan is not JSON"]
        ) from None


def _non_finite(value: Any, path: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
    if isinstance(value, float) and not math.isfinite(value):
        return path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return next((p for k, v in items if (p := _non_finite(v, (*path, k))) is not None), None)


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
    return plan_stack_file(read_stack_file(stack, config_file))


def plan_stack_file(stack_file: StackFile) -> Plan:
    """The offline plan of an already-read stack file (``run_plan`` reads it from disk first)."""
    stack = stack_file.stack
    cfg, platform, registrations, outputs = run_program(stack_file)
    plan = Plan(PROJECT, stack, cfg, platform, registrations, outputs)
    plan.cost = stack_cost(cfg.serving, [r.to_json() for r in registrations])
    plan.policy_violations = [v.to_json() for v in evaluate_plan(plan.to_json())]
    return plan
