"""What the page can ask for, independent of HTTP: the stack at a glance, the catalog, a what-if fit, a
proposed stack-file change (diff + validation) and, only when confirmed, writing it.

One :class:`StackService` serves one stack file, named when the server starts; it never reads or writes
another. Validation of a change is the offline plan's own path: ``stack_file_from_text`` (what
``read_stack_file`` does after reading), ``load_config`` (the root model) and ``plan_stack_file`` (the
program under mocks, cost, policy pack, first-deploy rehearsal). The mock runtime is process-global, so
plans run one at a time on one worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components._common import PROJECT, ConfigError
from components.gpu_pools import gpu_slots
from components.serving import catalog
from components.serving.importer import params_from_config_json
from components.serving.workload import token_config_keys
from policies.rules import RULES
from stacks.config import PlatformConfig, load_config
from stacks.plan import (
    ROOT,
    SECRET,
    Plan,
    StackFile,
    _read_text,
    plan_stack_file,
    read_stack_file,
    stack_file_from_text,
)
from stacks.ui.stackedit import SECRET_PREFIX, existing_entry, set_model, unified_diff
from stacks.ui.whatif import model_entry, what_if

_UPLOAD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,99}$")
"""An uploaded file's name as the browser reports it (no path); anything else is called config.json."""
_FIELD = re.compile(rf"^[^:]+: {PROJECT}:models\.(?P<name>[^.\s:]+)(?:\.(?P<field>[A-Za-z]+))?[.:\s]")


class RequestError(ValueError):
    """A request the page should not have sent (wrong shape): 400 with this one line."""


@dataclass
class Proposal:
    name: str
    entry: dict[str, Any]
    base_sha: str
    new_text: str
    diff: str
    valid: bool
    errors: list[str]
    field_errors: dict[str, list[str]]
    verdicts: list[dict[str, Any]]
    findings: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "entry": self.entry,
            "baseSha": self.base_sha,
            "diff": self.diff,
            "valid": self.valid,
            "errors": self.errors,
            "fieldErrors": self.field_errors,
            "verdicts": self.verdicts,
            "findings": self.findings,
        }


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def field_errors(lines: list[str], name: str) -> dict[str, list[str]]:
    """Config error lines about ``models.<name>`` keyed by the form field they name (``""``: the entry)."""
    found: dict[str, list[str]] = {}
    for line in lines:
        match = _FIELD.match(line)
        if match and match["name"] == name:
            found.setdefault(match["field"] or "", []).append(line)
    return found


class StackService:
    def __init__(self, stack: str, config_file: str | Path | None = None) -> None:
        first = read_stack_file(stack, config_file)  # refuses a bad name, a missing or unreadable file
        self.stack = stack
        self.path = Path(config_file) if config_file else ROOT / first.source
        self.filename = first.source
        # The Pulumi SDK's mock runtime wants an asyncio loop in the thread that runs the program.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plan", initializer=_new_event_loop)
        self._write_lock = threading.Lock()
        self._glance: tuple[str, dict[str, Any]] | None = None
        text = self.read_text()
        # The page starts only for a stack that plans: the same checks (and message lines) as `stacks plan`.
        self._glance = (_sha(text), self._state_of(self._plan(text)))

    # --- reading -------------------------------------------------------------------------------------
    def read_text(self) -> str:
        """The stack file's text, refused (one line) as ``stacks plan`` refuses it: missing, too large, not UTF-8."""
        return _read_text(self.path)

    def _stack_file(self, text: str) -> StackFile:
        return stack_file_from_text(self.stack, text, self.filename)

    def _plan(self, text: str) -> Plan:
        stack_file = self._stack_file(text)
        return self._worker.submit(plan_stack_file, stack_file).result()

    def config(self) -> PlatformConfig:
        stack_file = self._stack_file(self.read_text())
        return load_config(stack_file.config_map, stack_file.source)

    # --- the stack at a glance -----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        text = self.read_text()
        sha = _sha(text)
        if self._glance is None or self._glance[0] != sha:
            self._glance = (sha, self._state_of(self._plan(text)))
        return {**self._glance[1], "baseSha": sha}

    def _state_of(self, plan: Plan) -> dict[str, Any]:
        cfg = plan.config
        stack_file = self._stack_file(self.read_text())
        secrets = sorted({*stack_file.secret_keys, *(k for k in stack_file.config_map if k.startswith(SECRET_PREFIX))})
        # Tokens the models need and the file does not hold: the offline plan stands them in as [secret].
        missing = sorted(k for k in token_config_keys(cfg.models) if k not in stack_file.config_map)
        clusters = []
        for key, cluster in cfg.clusters.items():
            pools = []
            for group, spec in cluster.gpu_pools.items():
                pools.append(
                    {
                        "group": group,
                        "active": spec.active,
                        "allocation": spec.allocation,
                        "slots": [
                            {
                                "colour": slot.colour,
                                "poolName": slot.pool_name,
                                "active": slot.active,
                                "vmSize": slot.spec.vm_size,
                                "gpus": f"{slot.sku.gpu_count} x {slot.sku.gpu.name}",
                                "gpuMemoryGib": slot.sku.gpu.memory_gib,
                                "minCount": slot.spec.min_count,
                                "maxCount": slot.spec.max_count,
                                "migProfile": slot.spec.mig_profile,
                                "spot": slot.spec.spot,
                            }
                            for slot in gpu_slots(group, spec)
                        ],
                    }
                )
            clusters.append(
                {
                    "id": key,
                    "location": cluster.location,
                    "kubernetesVersion": cluster.kubernetes_version,
                    "tier": cluster.tier,
                    "private": cluster.api_server.private,
                    "pools": pools,
                }
            )
        rehearsal = plan.rehearse()
        cost = plan.cost
        return {
            "stack": self.stack,
            "file": self.filename,
            "environment": cfg.environment,
            "owner": cfg.owner,
            "location": cfg.location,
            "clusters": clusters,
            "profiles": {
                name: {"kind": p.kind, "gpuModel": p.gpu_model, "migProfile": p.mig_profile}
                for name, p in cfg.dra.profiles.items()
            },
            "teams": [
                {"name": name, "profiles": dict(team.profiles), "clusters": team.clusters, "mtls": team.mtls}
                for name, team in cfg.teams.items()
            ],
            "models": cost.get("serving", {}).get("models", []),
            "modelEntries": {name: _entry_of(spec) for name, spec in cfg.models.items()},
            "cost": {
                "expectedMonthlyUsd": cost.get("expectedMonthlyUsd"),
                "monthlyUsd": cost.get("monthlyUsd"),
                "maxMonthlyUsd": cost.get("maxMonthlyUsd"),
                "modelsMonthlyUsd": cost.get("modelsMonthlyUsd"),
                "budgetMonthlyUsd": cfg.policy.budget_monthly_usd,
                "prices": plan_prices(cost),
            },
            "policy": {
                "rules": len(RULES),
                "violations": plan.policy_violations,
                "mandatory": sum(1 for v in plan.policy_violations if v.get("enforcement") == "mandatory"),
            },
            "rehearsal": [f.to_json() for f in rehearsal.findings],
            "resources": sum(1 for r in plan.resources if r.custom),
            "secrets": [
                *({"key": key, "value": SECRET} for key in secrets),
                *(
                    {"key": key, "value": f"{SECRET} (not in the file: pulumi config set --secret {key})"}
                    for key in missing
                ),
            ],
            "exitCode": plan.exit_code(),
        }

    # --- catalog and fit ----------------------------------------------------------------------------
    def catalog(self) -> list[dict[str, Any]]:
        return [
            {
                "key": arch.key,
                "parametersBillions": arch.parameters_billions,
                "maxContext": arch.max_context,
                "layers": arch.layers,
                "kvHeads": arch.kv_heads,
                "headDim": arch.head_dim,
                "defaultPrecision": arch.default_precision,
                "precisions": sorted(arch.sources),
                "gated": arch.gated,
                "source": arch.source,
            }
            for arch in catalog().values()
        ]

    def fit(self, request: dict[str, Any]) -> dict[str, Any]:
        name = _name(request)
        existing = existing_entry(self.read_text(), name)
        return what_if(self.config(), self.filename, name, request, existing).to_json()

    # --- the change ---------------------------------------------------------------------------------
    def propose(self, request: dict[str, Any]) -> Proposal:
        name = _name(request)
        text = self.read_text()
        entry = model_entry(request, existing_entry(text, name))
        base = _sha(text)
        errors: list[str] = []
        try:
            new_text = set_model(text, name, entry, self.filename)
        except ConfigError as exc:
            return Proposal(name, entry, base, text, "", False, exc.lines, {}, [], [])
        diff = unified_diff(text, new_text, self.filename)
        verdicts: list[dict[str, Any]] = []
        findings: list[dict[str, Any]] = []
        try:
            plan = self._plan(new_text)
        except ConfigError as exc:
            errors = list(exc.lines)
        else:
            verdicts = plan.policy_violations
            findings = [f.to_json() for f in plan.rehearse().findings]
            errors = [
                f"{self.filename}: policy {v['policy']} ({v['enforcement']}): {v['message']}"
                for v in verdicts
                if v.get("enforcement") == "mandatory"
            ] + [
                f"{self.filename}: rehearsal {f['kind']}: {f['message']}" for f in findings if f["severity"] == "error"
            ]
        return Proposal(
            name, entry, base, new_text, diff, not errors, errors, field_errors(errors, name), verdicts, findings
        )

    def write(self, request: dict[str, Any]) -> dict[str, Any]:
        """Write the proposed change, only with ``confirm: true`` and only onto the text it was proposed for."""
        if request.get("confirm") is not True:
            raise RequestError("confirm: must be true to write the stack file (got a missing or false value)")
        base = request.get("baseSha")
        with self._write_lock:
            proposal = self.propose(request)
            if base != proposal.base_sha:
                raise RequestError(
                    f"baseSha: {self.filename} changed since the change was proposed (got {str(base)[:12]!r}). "
                    "Fix: produce the change again"
                )
            if not proposal.valid:
                raise RequestError(f"{self.filename}: the change does not validate: {proposal.errors[0]}")
            if not proposal.diff:
                return {"written": False, "file": self.filename, "reason": "no change"}
            self.path.write_text(proposal.new_text, encoding="utf-8")
        return {"written": True, "file": self.filename, "sha": _sha(proposal.new_text)}

    # --- model import ------------------------------------------------------------------------------
    def import_model(self, text: str, file_name: str | None = None) -> dict[str, Any]:
        """The uploaded config.json as a stack file's ``params`` (``python -m stacks model import``'s counting):
        ``{key, source, params}``, or one line naming the key (the upload's own file name when it is a plain one).
        """
        label = file_name if file_name and _UPLOAD_NAME.match(file_name) else "config.json"
        try:
            return params_from_config_json(text, label)
        except ConfigError as exc:
            raise RequestError(exc.lines[0]) from None

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)


def _new_event_loop() -> None:
    asyncio.set_event_loop(asyncio.new_event_loop())


def plan_prices(cost: dict[str, Any]) -> dict[str, Any]:
    prices = cost.get("prices") or {}
    return {k: prices.get(k) for k in ("asOf", "source", "hoursPerMonth")} if isinstance(prices, dict) else {}


def _name(request: dict[str, Any]) -> str:
    name = request.get("name")
    if not isinstance(name, str) or not name:
        raise RequestError("name: the model deployment's name is required (models.<name>), e.g. chat")
    return name


def _entry_of(spec: Any) -> dict[str, Any]:
    return {
        "team": spec.team,
        "cluster": spec.cluster,
        "model": spec.model,
        # A model given by params (an imported config.json): the page offers it as "imported" and sends these
        # back, so editing the deployment keeps them (exactly the keys the file has).
        "params": spec.params.model_dump(by_alias=True, exclude_unset=True) if spec.params else None,
        "precision": spec.precision,
        "source": spec.source,
        "hfToken": spec.hf_token,
        "contextLength": spec.context_length,
        "concurrency": spec.concurrency,
        "replicas": spec.replicas,
        "pool": spec.pool,
        "profile": spec.profile,
    }
