"""Shared helpers for every component: the configuration base model, configuration errors, naming, tags.

One private module so that every component speaks the same vocabulary (``tags``, ``lock``, names) and
every configuration mistake is reported the same way.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_azure_native as azure_native
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from components.facts import BUILTIN_ROLES

PROJECT = "ai-platform"
"""The Pulumi project name; also the configuration namespace (``ai-platform:<key>``)."""

SECRETS_NAMESPACE = f"{PROJECT}-secrets"
"""Config namespace of secret values (``pulumi config set --secret ai-platform-secrets:<key> ...``)."""

TYPE_PREFIX = "aiplatform:index"
"""Type-token prefix of every component: ``aiplatform:index:<Class>``."""


class Spec(BaseModel):
    """Base of every configuration model: camelCase keys as typed in YAML, unknown keys refused, frozen."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=True,
    )


@dataclass(frozen=True)
class Issue:
    """One configuration problem, located by the dotted key path relative to the model that found it."""

    path: tuple[str | int, ...]
    problem: str
    got: Any = None
    allowed: str | None = None
    fix: str | None = None


class ConfigIssues(ValueError):
    """Raised by cross-field validators; carries one or more :class:`Issue` with precise key paths.

    Pydantic wraps it in a ValidationError; ``stacks.config`` unwraps it so that each issue is reported
    at its own dotted key rather than at the model that ran the check.
    """

    def __init__(self, issues: Iterable[Issue]):
        self.issues = list(issues)
        super().__init__("; ".join(i.problem for i in self.issues))


def raise_issues(issues: list[Issue]) -> None:
    if issues:
        raise ConfigIssues(issues)


class ConfigError(Exception):
    """Configuration could not be loaded: one formatted line per problem, ready to print."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


def short_hash(text: str, length: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


_NAME_CLEAN = re.compile(r"[^a-z0-9-]+")


def resource_id_pattern(provider: str, *types: str) -> re.Pattern[str]:
    """An ARM resource id of ``provider`` (``Microsoft.Network``) and nested ``types`` (``virtualNetworks``,
    ``subnets``), matched case-insensitively as ARM compares ids."""
    nested = "".join(f"/{re.escape(t)}/[^/]+" for t in types)
    return re.compile(
        rf"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/{re.escape(provider)}{nested}$", re.IGNORECASE
    )


def azure_name(*parts: str, max_len: int = 63, sep: str = "-", allow_hyphen: bool = True) -> str:
    """A deterministic physical name from ``parts`` that fits Azure's length and charset rules.

    Lower-case letters, digits and (optionally) hyphens only; when the joined name is longer than
    ``max_len`` it is cut and ends with a short hash of the full name, so two long names stay distinct.
    """
    joined = sep.join(p for p in parts if p).lower()
    cleaned = _NAME_CLEAN.sub("-", joined).strip("-")
    if not allow_hyphen:
        cleaned = cleaned.replace("-", "")
    if len(cleaned) <= max_len:
        return cleaned
    digest = short_hash(cleaned)
    keep = max_len - len(digest) - (1 if allow_hyphen else 0)
    head = cleaned[:keep].rstrip("-")
    return f"{head}-{digest}" if allow_hyphen else f"{head}{digest}"


def merge_tags(*layers: Mapping[str, str] | None) -> dict[str, str]:
    """Later layers win; keys are kept as given (Azure tag names are case-insensitive but preserved)."""
    merged: dict[str, str] = {}
    for layer in layers:
        if layer:
            merged.update(layer)
    return merged


def role_assignment(
    resource_name: str,
    *,
    scope: pulumi.Input[str],
    role: str,
    principal_id: pulumi.Input[str | None],
    principal_type: str,
    subscription_id: pulumi.Input[str],
    parent: pulumi.Resource,
) -> azure_native.authorization.RoleAssignment:
    """Grant the built-in ``role`` on ``scope``; ``principal_type`` must match the principal (Azure checks it)."""
    return azure_native.authorization.RoleAssignment(
        resource_name,
        scope=scope,
        principal_id=principal_id,
        principal_type=principal_type,
        role_definition_id=pulumi.Output.concat(
            "/subscriptions/",
            subscription_id,
            "/providers/Microsoft.Authorization/roleDefinitions/",
            BUILTIN_ROLES[role],
        ),
        description=f"{role} (managed by the ai-platform blueprint)",
        opts=pulumi.ResourceOptions(parent=parent),
    )
