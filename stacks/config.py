"""The root configuration model: everything a stack file may say under the ``ai-platform`` namespace.

``load_config`` turns the raw configuration map (as the Pulumi CLI passes it to the program, or as the
offline plan reads it from ``Pulumi.<stack>.yaml``) into a validated, frozen :class:`PlatformConfig`, or
raises :class:`ConfigError` with one line per problem naming the file, the dotted key, the value received,
what is allowed and the fix. Nothing reads the environment or the cloud here.
"""

from __future__ import annotations

import contextlib
import json
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from components._common import PROJECT, ConfigError, ConfigIssues, Issue, Spec, display_key, raise_issues
from components.azure_catalog import Region
from components.cluster import ClusterSpec, KubeloginMode
from components.dra import DraSpec, dra_issues
from components.fleet import FleetSpec, fleet_issues
from components.gpu_pools import pool_id_issues
from components.observability import MonitoringSpec, monitoring_issues
from components.pricing import PricingSpec
from components.serving.cache import cache_issues
from components.serving.fit import ServingInputs
from components.serving.fit import analyse as serving_analysis
from components.serving.spec import ModelDeploymentSpec
from components.serving.workload import load_issues
from components.teams import TeamSpec
from policies.spec import PolicySpec

Environment = Literal["dev", "staging", "prod"]


class PlatformConfig(Spec):
    """The whole ``ai-platform`` configuration namespace of one stack."""

    environment: Environment
    owner: Annotated[str, Field(min_length=1, max_length=256)]
    cost_center: Annotated[str, Field(min_length=1, max_length=256)]
    location: Region
    """Region of the stack's shared resources (monitoring workspace, fleet)."""
    name_prefix: Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{1,9}$")] = "aiplat"
    tags: dict[str, str] = Field(default_factory=dict)
    protect: bool = False
    """Protect clusters and stateful resources from deletion (production)."""
    kubelogin: KubeloginMode = "azurecli"
    """How the Kubernetes provider logs in: ``azurecli`` on a workstation, ``workloadidentity`` in CI."""
    clusters: Annotated[dict[str, ClusterSpec], Field(min_length=1)]
    fleet: FleetSpec | None = None
    """Azure Kubernetes Fleet Manager: members, staged update strategy, auto-upgrade (components/fleet/)."""
    dra: DraSpec = Field(default_factory=DraSpec)
    """GPU driver charts and sharing profiles (components/dra/)."""
    teams: dict[str, TeamSpec] = Field(default_factory=dict)
    """Team namespaces with the GPU profiles they may claim and their quotas (components/dra/)."""
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    """Managed Prometheus, Grafana, GPU metrics and alerts (components/observability/)."""
    models: dict[Annotated[str, Field(pattern=r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")], ModelDeploymentSpec] = Field(
        default_factory=dict
    )
    """Model deployments served with vLLM on the teams' GPUs (components/serving)."""
    pricing: PricingSpec = Field(default_factory=PricingSpec)
    """Prices that replace or extend components/data/prices.yaml (components/pricing.py)."""
    policy: PolicySpec = Field(default_factory=PolicySpec)
    """GPU budget and policy waivers (policies/spec.py; README 'Policy')."""

    @model_validator(mode="after")
    def _check(self) -> PlatformConfig:
        issues: list[Issue] = []
        for key in self.clusters:
            if not key.isascii() or not key[:1].isalpha() or not key.isalnum() or not key.islower() or len(key) > 10:
                issues.append(
                    Issue(
                        ("clusters", key),
                        "cluster id must be 1-10 lowercase letters/digits starting "
                        "with a letter (it becomes part of Azure resource names)",
                        key,
                        "^[a-z][a-z0-9]{0,9}$",
                        "rename the cluster id, e.g. weu1",
                    )
                )
        for key, cluster in self.clusters.items():
            issues.extend(
                Issue(("clusters", key, *issue.path), issue.problem, issue.got, issue.allowed, issue.fix)
                for issue in pool_id_issues(cluster.gpu_pools)
            )
        issues.extend(tag_issues(self.tags))
        issues.extend(connected_vnet_issues(self))
        if self.fleet is not None:
            issues.extend(fleet_issues(self.fleet, self.clusters, self.teams))
        issues.extend(dra_issues(self.dra, self.teams, self.clusters))
        issues.extend(monitoring_issues(self.environment, self.monitoring, self.clusters))
        if self.models:
            serving, serving_issues = serving_analysis(self.serving)
            issues.extend(serving_issues)
            # What the chosen placement cannot download or load (node disk, load-time quantization).
            cached = frozenset(k for k, c in self.clusters.items() if c.weight_cache.enabled)
            issues.extend(load_issues([f for f in serving.fits.values() if f.chosen is not None], cached))
            issues.extend(cache_issues(self.models, cached))
        raise_issues(issues)
        return self

    @property
    def serving(self) -> ServingInputs:
        """Model serving's inputs: the keys it reads, nothing else of the root config."""
        return ServingInputs(
            models=self.models, teams=self.teams, clusters=self.clusters, dra=self.dra, pricing=self.pricing
        )

    def base_tags(self) -> dict[str, str]:
        return {
            **self.tags,
            "environment": self.environment,
            "owner": self.owner,
            "cost-center": self.cost_center,
            "managed-by": "pulumi",
            "blueprint": PROJECT,
        }


RESERVED_TAGS = {"environment", "owner", "cost-center", "managed-by", "blueprint"}
"""Tag names the blueprint sets on every resource (``base_tags``); pools add ``ai-platform-*`` names."""
MAX_TAGS = 50
"""Azure allows 50 tags per resource (learn.microsoft.com/azure/azure-resource-manager/management/tag-resources,
"Limitations"), the blueprint sets up to 7 (base_tags and a pool's colour and slot role)."""
MAX_TAG_NAME = 512
MAX_TAG_VALUE = 256
"""Tag name and value lengths (same page: 'Tag names can't exceed 512 characters, tag values 256')."""
_TAG_NAME_FORBIDDEN = "<>%&\\?/"
"""Characters a tag name may not contain (same page: 'Tag names can't contain these characters: <, >, %, &, \\,
?, /'); names starting with microsoft, azure or windows are reserved for Azure."""


def tag_issues(tags: Mapping[str, str]) -> list[Issue]:
    """Azure's tag rules and the names the blueprint owns."""
    issues: list[Issue] = []
    if len(tags) > MAX_TAGS - 7:
        issues.append(
            Issue(
                ("tags",),
                f"has too many tags ({len(tags)}; the blueprint adds up to 7 and Azure allows {MAX_TAGS})",
                len(tags),
                f"at most {MAX_TAGS - 7}",
                "remove some tags",
            )
        )
    for tag, value in tags.items():
        bad = sorted({c for c in tag if c in _TAG_NAME_FORBIDDEN})
        problem = None
        if tag.lower() in RESERVED_TAGS or tag.lower().startswith(f"{PROJECT}-"):
            issues.append(
                Issue(
                    ("tags", tag),
                    "is set by the blueprint (environment/owner/costCenter, managed-by, blueprint, ai-platform-*)",
                    tag,
                    "any other tag name",
                    "remove it from tags (set environment/owner/costCenter as top-level keys)",
                )
            )
            continue
        if not tag:
            problem = "tag name is empty"
        elif len(tag) > MAX_TAG_NAME:
            problem = f"tag name is longer than {MAX_TAG_NAME} characters"
        elif bad:
            problem = f"tag name contains {' '.join(bad)}, which Azure refuses in tag names"
        elif tag.lower().startswith(("microsoft", "azure", "windows")):
            problem = "tag names starting with microsoft, azure or windows are reserved for Azure"
        if problem is not None:
            issues.append(
                Issue(("tags", tag), problem, tag, f"1-{MAX_TAG_NAME} characters without < > % & \\ ? /", "rename it")
            )
        if len(value) > MAX_TAG_VALUE:
            issues.append(
                Issue(
                    ("tags", tag),
                    f"tag value is longer than {MAX_TAG_VALUE} characters ({len(value)})",
                    value[:40] + "...",
                    f"at most {MAX_TAG_VALUE} characters",
                    "shorten the value",
                )
            )
    return issues


def connected_vnet_issues(cfg: PlatformConfig) -> list[Issue]:
    """Clusters that Fleet or its mesh connects need VNets that do not overlap (peering and the mesh's routes
    refuse overlapping address spaces); VNets are private ranges (checked per cluster, components/network.py)."""
    if cfg.fleet is None:
        return []
    connected = [k for k in cfg.clusters if k in cfg.fleet.members or k in cfg.fleet.mesh]
    issues: list[Issue] = []
    for i, a in enumerate(connected):
        net_a = cfg.clusters[a].network
        for b in connected[i + 1 :]:
            net_b = cfg.clusters[b].network
            if (
                net_a.existing_subnet_id is None
                and net_b.existing_subnet_id is None
                and net_a.vnet_cidr.overlaps(net_b.vnet_cidr)
            ):
                issues.append(
                    Issue(
                        ("clusters", b, "network", "vnetCidr"),
                        f"overlaps clusters.{a}.network.vnetCidr ({net_a.vnet_cidr}); both clusters are connected "
                        "by the fleet",
                        str(net_b.vnet_cidr),
                        f"a private range that does not overlap {net_a.vnet_cidr}",
                        f"give clusters.{b} its own range, e.g. the next /16",
                    )
                )
    return issues


def namespace_values(config_map: Mapping[str, Any], namespace: str = PROJECT) -> dict[str, Any]:
    """The keys of ``namespace`` from a CLI-style config map, structured values decoded from JSON.

    The CLI passes every value as a string; objects and arrays arrive JSON-encoded. Scalars stay strings
    and pydantic converts them by field type (``"true"`` -> True), which keeps ``"1.34"`` a string.
    """
    prefix = f"{namespace}:"
    values: dict[str, Any] = {}
    for key, value in config_map.items():
        if not key.startswith(prefix):
            continue
        decoded = value
        if isinstance(value, str) and value[:1] in "{[":
            with contextlib.suppress(json.JSONDecodeError):
                decoded = json.loads(value)
        values[key[len(prefix) :]] = decoded
    return values


def load_config(config_map: Mapping[str, Any], source: str) -> PlatformConfig:
    """Validate the namespace; ``source`` names the file in messages (``Pulumi.dev.yaml``)."""
    values = namespace_values(config_map)
    try:
        return PlatformConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, source)) from None


def format_errors(exc: ValidationError, source: str, prefix: tuple[str | int, ...] = ()) -> list[str]:
    """One line per problem; ``prefix`` places a sub-model's errors (``("models", "chat")``) under the root."""
    lines: list[str] = []
    for error in exc.errors():
        loc = prefix + tuple(error["loc"])
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ConfigIssues):
            lines.extend(_line(source, loc + issue.path, issue) for issue in cause.issues)
            continue
        lines.append(_line(source, loc, _issue_from_pydantic(error, loc)))
    return lines


def format_issues(issues: list[Issue], source: str) -> list[str]:
    """One message line per issue, paths relative to the namespace root."""
    return [_line(source, issue.path, issue) for issue in issues]


def _line(source: str, path: tuple[str | int, ...], issue: Issue) -> str:
    dotted = ".".join(display_key(p) for p in path)
    key = f"{PROJECT}:{dotted}" if dotted else PROJECT
    text = f"{source}: {key}: {issue.problem} (got {_show(issue.got)}"
    if issue.allowed:
        text += f"; allowed: {issue.allowed}"
    text += ")"
    if issue.fix:
        text += f". Fix: {issue.fix}"
    return text


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        text = json.dumps(value, default=str, sort_keys=True)
    else:
        text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def _issue_from_pydantic(error: Any, loc: tuple[str | int, ...]) -> Issue:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = error.get("input")
    if kind == "extra_forbidden":
        allowed = ", ".join(_keys_at(loc[:-1])) or None
        return Issue(
            loc,
            "unknown key",
            loc[-1] if loc else got,
            allowed,
            "remove the key or correct its spelling (keys are camelCase)",
        )
    if kind == "missing":
        return Issue(loc, "is required", None, None, f"add {loc[-1]!s} to the stack file" if loc else None)
    if kind == "literal_error":
        return Issue(loc, "is not an allowed value", got, str(ctx.get("expected", "")), "use one of the allowed values")
    if kind == "string_pattern_mismatch":
        return Issue(loc, "has the wrong format", got, f"matches {ctx.get('pattern')}", "correct the value")
    allowed = None
    for bound, word in (
        ("ge", ">="),
        ("gt", ">"),
        ("le", "<="),
        ("lt", "<"),
        ("min_length", "length >="),
        ("max_length", "length <="),
    ):
        if bound in ctx:
            allowed = f"{word} {ctx[bound]}"
    if kind == "string_type" and isinstance(got, (int, float)):
        return Issue(
            loc,
            "must be a string",
            got,
            "a quoted string",
            f'quote the value in YAML, e.g. "{got}" (unquoted 1.30 would be read as 1.3)',
        )
    message = str(error["msg"])
    return Issue(loc, message[0].lower() + message[1:], got, allowed, "correct the value")


def _keys_at(loc: tuple[str | int, ...]) -> list[str]:
    """The keys a model accepts at ``loc`` (for 'unknown key' messages), following dicts and lists."""
    current: Any = PlatformConfig
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
            if field is None:
                return []
            current = field.annotation
        else:
            args = typing.get_args(current)
            current = args[-1] if args else None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            non_none = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = non_none[0] if len(non_none) == 1 else tp
            if len(non_none) != 1:
                return tp
        else:
            return tp
