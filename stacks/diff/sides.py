"""The two sides of a diff: where BASE and HEAD come from, read into one shape.

Three kinds of input, each read into a :class:`Side` (resources keyed by the URN the Pulumi engine gives them):

- a plan document (``stacks plan --json``, ``platform-plan/v1``);
- a git ref and a stack (``--base-ref origin/main --stack prod``): the stack planned as it is at that ref, by that
  ref's own code, in a temporary ``git worktree add --detach`` checkout that is removed afterwards (the working tree
  is never touched);
- a ``pulumi stack export`` file (``{"version": 3, "deployment": {"resources": [...]}}``, Pulumi's
  ``apitype.UntypedDeployment`` / ``DeploymentV3`` / ``ResourceV3``): the deployed state, compared by the inputs it
  was deployed with. Secret values (``{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
  "ciphertext"|"plaintext": ...}``, ``apitype.SecretV1``) are read as ``[secret]`` and never kept.

URNs. The engine names a resource ``urn:pulumi:<stack>::<project>::<type chain>::<name>``, where the type chain is
the parent's full qualified type, ``$``, the resource's type, and a child of the root stack has no parent part
(pulumi/pulumi pkg/resource/deploy/deployment.go ``generateURN``). Pulumi's Python mock monitor, which the offline
plan runs under, instead prefixes only the parent's last type and keeps ``pulumi:pulumi:Stack`` (pulumi
``runtime/mocks.py`` ``make_urn``). Plan URNs are therefore rewritten to the engine's form from the recorded parent
chain (:func:`engine_urns`) so a plan and a stack export match resource for resource.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components._common import ConfigError
from policies.offline import plan_problems
from stacks.check import PlanFileError, read_plan

SECRET = "[secret]"
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270"
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
PLAN_SCHEMA = "platform-plan/v1"
GIT_TIMEOUT_SECONDS = 120
PLAN_TIMEOUT_SECONDS = 600


@dataclass
class Resource:
    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    protect: bool = False
    retain_on_delete: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    replace_on_changes: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    dependencies: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    """Engine URNs this resource had before (its ``aliases`` option): a BASE resource under one of them is this one."""


@dataclass
class Side:
    kind: str
    """``plan``, ``ref`` (planned at a git ref), ``workingTree`` or ``export`` (deployed state)."""
    label: str
    stack: str
    project: str
    environment: str | None
    resources: dict[str, Resource]
    monthly_usd: float | None = None
    expected_monthly_usd: float | None = None
    max_monthly_usd: float | None = None
    cost: dict[str, Any] | None = None
    """A stack export's estimated cost document (``components/pricing.py``); plans carry their own."""
    policy_violations: list[dict[str, Any]] | None = None
    policy: dict[str, Any] | None = None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label, "stack": self.stack, "environment": self.environment}


class DiffInputError(ConfigError):
    """Bad diff input: one line naming the argument (BASE, HEAD, --base-ref, --stack) and the key."""

    def __init__(self, line: str) -> None:
        super().__init__([line])


# --------------------------------------------------------------------------------------------------------
# Plan documents
# --------------------------------------------------------------------------------------------------------


def engine_urns(resources: list[Mapping[str, Any]]) -> dict[str, str]:
    """Mock-monitor URN -> the URN the engine gives the same registration (full parent type chain, no Stack)."""
    by_urn = {str(r["urn"]): r for r in resources}
    chains: dict[str, str] = {}

    def chain(urn: str) -> str:
        if urn in chains:
            return chains[urn]
        resource = by_urn[urn]
        parent = resource.get("parent")
        own = str(resource["type"])
        if parent and parent in by_urn:
            own = f"{chain(parent)}${own}"
        chains[urn] = own
        return own

    result = {}
    for urn, resource in by_urn.items():
        head = urn.split("::", 2)
        result[urn] = f"{head[0]}::{head[1]}::{chain(urn)}::{resource['name']}"
    return result


def alias_urns(resource: Mapping[str, Any], urn: str, parent: str | None, rename: Mapping[str, str]) -> list[str]:
    """The engine URNs a resource's alias specs name: unset fields are the resource's own name, type, parent,
    stack and project (pulumi/pulumi ``sdk/proto/alias.proto``); full alias URNs are taken as they are."""
    stack, project = urn.split("::", maxsplit=1)[0].removeprefix("urn:pulumi:"), urn.split("::")[1]
    result = []
    for alias in resource.get("aliases") or []:
        if not isinstance(alias, Mapping):
            continue
        if "urn" in alias:
            result.append(rename.get(str(alias["urn"]), str(alias["urn"])))
            continue
        owner = (
            None
            if alias.get("noParent")
            else rename.get(alias.get("parentUrn") or "", alias.get("parentUrn") or parent)
        )
        chain = str(alias.get("type") or resource["type"])
        if owner and ROOT_STACK_TYPE not in owner.split("::")[2]:
            chain = f"{owner.split('::')[2]}${chain}"
        result.append(
            f"urn:pulumi:{alias.get('stack') or stack}::{alias.get('project') or project}::{chain}::"
            f"{alias.get('name') or resource['name']}"
        )
    return result


def side_from_plan(document: Mapping[str, Any], kind: str, label: str) -> Side:
    raw = list(document.get("resources") or [])
    rename = engine_urns(raw)
    resources: dict[str, Resource] = {}
    for r in raw:
        urn = rename[str(r["urn"])]
        parent = r.get("parent")
        engine_parent = rename.get(parent, parent) if parent else None
        resources[urn] = Resource(
            urn=urn,
            type=str(r["type"]),
            name=str(r["name"]),
            parent=engine_parent,
            custom=bool(r.get("custom", True)),
            inputs={k: v for k, v in (r.get("inputs") or {}).items() if not str(k).startswith("__")},
            protect=bool(r.get("protect")),
            retain_on_delete=bool(r.get("retainOnDelete")),
            ignore_changes=list(r.get("ignoreChanges") or []),
            replace_on_changes=list(r.get("replaceOnChanges") or []),
            delete_before_replace=bool(r.get("deleteBeforeReplace")),
            dependencies=[rename.get(d, d) for d in r.get("dependencies") or []],
            aliases=alias_urns(r, urn, engine_parent, rename),
        )
    raw_cost = document.get("cost")
    cost: Mapping[str, Any] = raw_cost if isinstance(raw_cost, Mapping) else {}
    return Side(
        kind=kind,
        label=label,
        stack=str(document.get("stack")),
        project=str(document.get("project")),
        environment=document.get("environment"),
        resources=resources,
        monthly_usd=_number(cost.get("monthlyUsd")),
        expected_monthly_usd=_number(cost.get("expectedMonthlyUsd")),
        max_monthly_usd=_number(cost.get("maxMonthlyUsd")),
        policy_violations=[
            {**v, "urn": rename.get(v.get("urn"), v.get("urn"))} for v in document.get("policyViolations") or []
        ],
        policy=dict(document.get("policy") or {}),
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# --------------------------------------------------------------------------------------------------------
# pulumi stack export
# --------------------------------------------------------------------------------------------------------


def unsecret(value: Any) -> Any:
    """State values with every secret (ciphertext or ``--show-secrets`` plaintext) replaced by ``[secret]``.

    Keys starting ``__`` (a dynamic provider's serialized ``__provider``, provider bookkeeping) are dropped on both
    sides: they are not inputs anyone edits.
    """
    if isinstance(value, dict):
        if value.get(SECRET_SIG_KEY) == SECRET_SIG_VALUE:
            return SECRET
        return {k: unsecret(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [unsecret(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _is_default_provider(resource: Mapping[str, Any]) -> bool:
    return str(resource.get("type", "")).startswith("pulumi:providers:") and str(resource.get("urn", "")).rsplit(
        "::", 1
    )[-1].startswith("default")


def side_from_export(document: Mapping[str, Any], label: str, role: str = "BASE") -> Side:
    deployment = document.get("deployment")
    where = f"{role} {label}: deployment"
    if not isinstance(deployment, Mapping):
        raise DiffInputError(f"{where}: missing or not an object; expected the output of `pulumi stack export`")
    raw = deployment.get("resources") or []
    if not isinstance(raw, list):
        raise DiffInputError(f"{where}.resources: not a list (got {type(raw).__name__})")
    resources: dict[str, Resource] = {}
    stack = project = ""
    for index, r in enumerate(raw):
        if not isinstance(r, Mapping) or not isinstance(r.get("urn"), str) or not isinstance(r.get("type"), str):
            raise DiffInputError(f"{where}.resources[{index}]: not a resource with a string urn and type")
        urn = r["urn"]
        parts = urn.split("::")
        if len(parts) < 4 or not parts[0].startswith("urn:pulumi:"):
            raise DiffInputError(f"{where}.resources[{index}].urn: not a Pulumi URN (got {urn[:80]!r})")
        stack, project = parts[0].removeprefix("urn:pulumi:"), parts[1]
        if r["type"] == ROOT_STACK_TYPE or _is_default_provider(r) or r.get("delete"):
            continue
        inputs = r.get("inputs")
        if isinstance(inputs, Mapping) and r["type"].startswith("pulumi:providers:"):
            # The engine records the plugin it used in a provider's state inputs; the program never sets them.
            inputs = {k: v for k, v in inputs.items() if k not in ("version", "pluginDownloadURL")}
        resources[urn] = Resource(
            urn=urn,
            type=r["type"],
            name=parts[-1],
            parent=r.get("parent") if r.get("parent") and ROOT_STACK_TYPE not in str(r.get("parent")) else None,
            custom=bool(r.get("custom")),
            inputs=unsecret(dict(inputs)) if isinstance(inputs, Mapping) else {},
            protect=bool(r.get("protect")),
            retain_on_delete=bool(r.get("retainOnDelete")),
            ignore_changes=list(r.get("ignoreChanges") or []),
            replace_on_changes=list(r.get("replaceOnChanges") or []),
            dependencies=[str(d) for d in r.get("dependencies") or []],
            aliases=[str(a) for a in r.get("aliases") or [] if isinstance(a, str)],
        )
    return Side(kind="export", label=label, stack=stack, project=project, environment=None, resources=resources)


# --------------------------------------------------------------------------------------------------------
# Files, refs and the working tree
# --------------------------------------------------------------------------------------------------------


def read_side(path: str, role: str) -> Side:
    """A plan document or a stack export at ``path``; ``role`` (BASE or HEAD) names it in errors."""
    label = path
    try:
        document = read_plan(path)
    except PlanFileError as exc:
        raise DiffInputError(f"{role} {exc}".replace("\n", " ")) from None
    if isinstance(document, Mapping) and "deployment" in document and "schema" not in document:
        return side_from_export(document, path, role)
    problems = plan_problems(document)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DiffInputError(
            f"{role} {path}: {problems[0]}{more}; expected a `stacks plan --json` document or a "
            "`pulumi stack export` file"
        )
    return side_from_plan(document, "plan", label)


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=GIT_TIMEOUT_SECONDS,
    )


def repo_root(start: Path) -> Path:
    found = _git(start, "rev-parse", "--show-toplevel")
    if found.returncode != 0:
        raise DiffInputError(f"--base-ref: {start} is not inside a git repository. Fix: run stacks diff in a clone")
    return Path(found.stdout.strip())


def plan_at_ref(ref: str, stack: str, repo: Path, option: str = "--base-ref") -> Side:
    """``stack`` planned as it is at ``ref``: its own code and stack file, in a temporary detached worktree."""
    if ref.startswith("-") or not ref.strip():
        raise DiffInputError(
            f"{option}: not a git ref (got {ref!r}). Fix: pass a branch, tag or commit, e.g. origin/main"
        )
    commit = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if commit.returncode != 0:
        raise DiffInputError(
            f"{option}: {ref!r} names no commit in {repo.name}. Fix: fetch it first (git fetch origin) or pass a commit"
        )
    sha = commit.stdout.strip()
    listed = _git(repo, "ls-tree", "--name-only", sha, f"Pulumi.{stack}.yaml")
    if not listed.stdout.strip():
        raise DiffInputError(
            f"--stack: {stack!r} has no Pulumi.{stack}.yaml at {ref} ({sha[:12]}). Fix: diff a stack that exists there"
        )
    holder = Path(tempfile.mkdtemp(prefix="stacks-diff-"))
    tree = holder / "tree"
    try:
        added = _git(repo, "worktree", "add", "--detach", str(tree), sha)
        if added.returncode != 0:
            raise DiffInputError(f"{option}: git worktree add failed for {ref}: {_last_line(added.stderr)}")
        out = holder / "plan.json"
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        run = subprocess.run(
            [sys.executable, "-m", "stacks", "plan", stack, "--json", str(out)],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=PLAN_TIMEOUT_SECONDS,
        )
        if not out.is_file():
            raise DiffInputError(
                f"{option}: the plan of {stack} at {ref} ({sha[:12]}) failed (exit {run.returncode}): "
                f"{_last_line(run.stderr) or _last_line(run.stdout)}"
            )
        document = read_plan(str(out))
        return side_from_plan(document, "ref", f"{ref} ({sha[:12]}) Pulumi.{stack}.yaml")
    finally:
        _git(repo, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(holder, ignore_errors=True)


def plan_working_tree(stack: str, repo: Path) -> Side:
    """``stack`` planned from the working tree's stack file (as ``stacks plan`` would)."""
    from stacks.plan import run_plan  # noqa: PLC0415 - the mock runtime is only loaded when a plan is needed

    path = repo / f"Pulumi.{stack}.yaml"
    plan = run_plan(stack, path)
    return side_from_plan(plan.to_json(), "workingTree", f"working tree Pulumi.{stack}.yaml")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""
