"""Shared helpers for every component: the configuration base model, configuration errors, naming, tags.

One private module so that every component speaks the same vocabulary (``tags``, ``lock``, names) and
every configuration mistake is reported the same way.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import math
import re
import types
import typing
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pulumi
import pulumi_azure_native as azure_native
from pydantic import BaseModel, ConfigDict, ValidationError, ValidatorFunctionWrapHandler, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails

from components.facts import BUILTIN_ROLES

PROJECT = "ai-platform"
"""The Pulumi project name; also the configuration namespace (``ai-platform:<key>``)."""

SECRETS_NAMESPACE = f"{PROJECT}-secrets"
"""Config namespace of secret values (``pulumi config set --secret ai-platform-secrets:<key> ...``)."""

TYPE_PREFIX = "aiplatform:index"
"""Type-token prefix of every component: ``aiplatform:index:<Class>``."""


@dataclass(frozen=True)
class Issue:
    """One configuration problem, located by the dotted key path relative to the model that found it."""

    path: tuple[str | int, ...]
    problem: str
    got: Any = None
    allowed: str | None = None
    fix: str | None = None


class Spec(BaseModel):
    """Base of every configuration model: camelCase keys as typed in YAML, unknown keys refused, frozen.

    Before pydantic converts anything, :func:`input_issues` checks every field's raw value against its
    annotation (:meth:`_check_input`): pydantic's lax mode would turn ``maxCount: true`` into 1, a YAML
    ``~`` into a missing value and accept 0/1 for booleans; strings with control or bidirectional
    characters, over-long strings and plaintext credentials are refused here too. NaN and infinities are
    refused in every number (``allow_inf_nan=False``). The other keys are still validated, so that every mistake
    of a stack file is reported together.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=True,
        allow_inf_nan=False,
    )

    @model_validator(mode="wrap")
    @classmethod
    def _check_input(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        issues = input_issues(cls, data) if isinstance(data, Mapping) else []
        if not issues:
            return handler(data)
        # Validate the rest anyway, so that every mistake is reported together: the refused keys are left out
        # (their 'missing' errors dropped) and pydantic's errors for the other keys join the raw-input issues.
        refused = {issue.path[0] for issue in issues}
        errors: list[InitErrorDetails] = [
            {"type": "value_error", "loc": (), "input": data, "ctx": {"error": ConfigIssues(issues)}}
        ]
        try:
            handler({k: v for k, v in data.items() if k not in refused})
        except ValidationError as exc:
            for e in exc.errors():
                if e["loc"][:1] and e["loc"][0] not in refused:
                    detail = InitErrorDetails(type=e["type"], loc=e["loc"], input=e["input"])
                    if "ctx" in e:
                        detail["ctx"] = e["ctx"]
                    errors.append(detail)
        raise ValidationError.from_exception_data(cls.__name__, errors)


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


# --------------------------------------------------------------------------------------------------------------
# Raw input checks: the value as typed in YAML (or as JSON from the CLI) against the field's annotation
# --------------------------------------------------------------------------------------------------------------

MAX_TEXT_CHARS = 1024
"""Longest string value a stack file may hold (the longest shipped value, a resource id, is under 200)."""
MAX_KEY_CHARS = 512
"""Longest map key (an Azure tag name may have 512 characters; every id key has a tighter pattern)."""

_SECRET_NAME = re.compile(
    r"(token|passw(or)?d|secret|api[-_]?key|access[-_]?key|account[-_]?key|private[-_]?key|credential|"
    r"connection[-_]?string|sas)",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"(hf_[A-Za-z0-9]{30,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|AKIA[0-9A-Z]{16}|sk-[A-Za-z0-9_-]{20,}|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"|(AccountKey|SharedAccessKey|SharedAccessSignature)=)"
)
"""Credential formats: Hugging Face, GitHub, Slack and AWS tokens, API keys, PEM private keys, JWTs, Azure
storage/Service Bus connection strings."""
_SECRET_URL = re.compile(
    r"^[a-z][a-z0-9+.-]*://("
    r"[^/@\s:]+:[^/@\s]+@"  # user:password@host
    r"|[^?#]*[?&](sig|signature|token|access_token|code|key|api[-_]?key|secret|password)=[^&#]{8,}"
    r"|hooks\.slack\.com/services/|(discord|discordapp)\.com/api/webhooks/|[^/]*webhook\.office\.com/"
    r"|outlook\.office\.com/webhook/)",
    re.IGNORECASE,
)
"""URLs that carry their own credential: user:password, a token or signature in the query, webhook URLs whose
path is the secret (Slack, Discord, Microsoft Teams)."""


SECRET_REFERENCE_KEYS = frozenset({"hfToken", "urlSecret"})
"""Fields whose value is the *name* of a key in ``ai-platform-secrets`` (``models.<m>.hfToken``, ``monitoring.alerts.
webhooks.<r>.urlSecret``): exempt from the 'high-entropy value under a secret-like name' rule (a long key name
such as ``platformOncallWebhookUrl1`` is not a credential), still checked for known token formats and URLs."""


def _entropy(text: str) -> float:
    counts = {c: text.count(c) for c in set(text)}
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def secret_problem(key: str | None, text: str) -> str | None:
    """Why ``text`` (under the map key or field ``key``) looks like a credential, or None."""
    if _SECRET_URL.match(text):
        return "is a URL that carries a credential"
    if _SECRET_VALUE.search(text):
        return "looks like a credential (a token, key or connection string)"
    if (
        key is not None
        and key not in SECRET_REFERENCE_KEYS
        and _SECRET_NAME.search(key)
        and len(text) >= 16
        and " " not in text
        and any(c.isdigit() for c in text)
        and any(c.isalpha() for c in text)
        and _entropy(text) >= 3.5
    ):
        return f"looks like a credential (a high-entropy value under {key!r})"
    return None


def redacted(text: str) -> str:
    return f"<redacted, {len(text)} characters>"


def text_problem(text: str, *, key: bool = False) -> str | None:
    """Why ``text`` cannot be a configuration string (a map key when ``key``), or None."""
    limit = MAX_KEY_CHARS if key else MAX_TEXT_CHARS
    if len(text) > limit:
        return f"is too long ({len(text)} characters; at most {limit})"
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc" and (key or char not in "\t\n"):
            return f"contains the control character U+{ord(char):04X}"
        if category == "Cf":
            return f"contains the invisible or bidirectional formatting character U+{ord(char):04X}"
    return None


def display_key(part: str | int) -> str:
    """A key as shown in a message: control characters escaped, long keys cut, so a message stays one line."""
    text = str(part)
    if not text.isprintable():
        text = repr(text)[1:-1]
    return text if len(text) <= 64 else text[:61] + "..."


def _yaml_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return "a date"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a map"
    return "a list" if isinstance(value, (list, tuple)) else type(value).__name__


_STRING_LIKE = (str, ipaddress.IPv4Network, ipaddress.IPv4Address, ipaddress.IPv6Network, uuid.UUID)


def input_issues(model: type[BaseModel], data: Mapping[str, Any], *, deep: bool = False) -> list[Issue]:
    """Problems of the raw ``data`` of ``model`` (keys as typed), located relative to the model.

    ``deep`` also descends into nested models (the offline plan checks the YAML values, dates and all, before
    the CLI's JSON form loses their types); otherwise each nested model checks its own input.
    """
    fields = {(f.alias or n): f for n, f in model.model_fields.items()}
    issues: list[Issue] = []
    for key, value in data.items():
        field = fields.get(key) if isinstance(key, str) else None
        if field is None:
            continue  # an unknown key: pydantic reports it with the keys allowed here
        issues.extend(_value_issues(field.annotation, value, (key,), key, deep))
    return issues


def _value_issues(annotation: Any, value: Any, path: tuple[str | int, ...], key: str | None, deep: bool) -> list[Issue]:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _value_issues(typing.get_args(annotation)[0], value, path, key, deep)
    if origin in (typing.Union, types.UnionType):
        arms = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None and len(arms) < len(typing.get_args(annotation)):
            return []
        results = [_value_issues(arm, value, path, key, deep) for arm in arms]
        return next((r for r in results if not r), results[0] if results else [])
    if value is None:
        return [
            Issue(
                path,
                "is empty (YAML reads ~, null or a bare key as no value)",
                None,
                "a value",
                "give it a value, or remove the key to use its default",
            )
        ]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if deep and isinstance(value, Mapping):
            return [
                Issue((*path, *i.path), i.problem, i.got, i.allowed, i.fix)
                for i in input_issues(annotation, value, deep=True)
            ]
        return []
    if origin is Literal:
        return []  # pydantic names the allowed values
    if origin is dict and isinstance(value, Mapping):
        value_type = typing.get_args(annotation)[1] if typing.get_args(annotation) else Any
        issues: list[Issue] = []
        for k, v in value.items():
            if isinstance(k, str) and (problem := text_problem(k, key=True)) is not None:
                issues.append(Issue((*path, k), problem, _shown(k), "printable text", "rename the key"))
                continue
            issues.extend(_value_issues(value_type, v, (*path, k), k if isinstance(k, str) else key, deep))
        return issues
    if origin in (list, tuple, set, frozenset) and isinstance(value, (list, tuple)):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        item_type = args[0] if args else Any
        return [i for n, v in enumerate(value) for i in _value_issues(item_type, v, (*path, n), key, deep)]
    if annotation is Any:
        if isinstance(value, Mapping):
            return _value_issues(dict[str, Any], value, path, key, deep)
        if isinstance(value, (list, tuple)):
            return _value_issues(list[Any], value, path, key, deep)
    if isinstance(value, str):
        return _text_issues(value, path, key)
    kind = _yaml_kind(value)
    if annotation in _STRING_LIKE or (annotation is datetime.date and not isinstance(value, datetime.date)):
        example = value.isoformat() if isinstance(value, (datetime.date, datetime.datetime)) else value
        shown = str(example).lower() if isinstance(value, bool) else str(example)
        return [
            Issue(
                path,
                f"must be a string, but YAML reads this unquoted value as {kind}",
                value if not isinstance(value, (datetime.date, datetime.datetime)) else str(example),
                "a quoted string",
                f'quote it, e.g. {key or path[-1]}: "{shown}"'
                + (" (unquoted 1.30 would be read as 1.3)" if isinstance(value, float) else ""),
            )
        ]
    if annotation is bool and not isinstance(value, bool):
        return [Issue(path, f"must be true or false, not {kind}", value, "true, false", "write true or false")]
    if annotation in (int, float) and isinstance(value, bool):
        return [
            Issue(
                path,
                "must be a number, not a boolean (read loosely, true would become 1 and false 0)",
                value,
                "a number",
                "write the number",
            )
        ]
    if isinstance(value, float) and not math.isfinite(value):
        return [Issue(path, "must be a finite number", value, "a finite number", "write a finite number")]
    return []


def _shown(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _text_issues(text: str, path: tuple[str | int, ...], key: str | None) -> list[Issue]:
    problem = text_problem(text)
    if problem is not None:
        return [Issue(path, problem, _shown(text), "printable text", "remove the character or shorten the value")]
    secret = secret_problem(key, text)
    if secret is not None:
        return [
            Issue(
                path,
                f"{secret} in plaintext: it would be committed with the stack file and stored unencrypted",
                redacted(text),
                "no credentials in plain configuration",
                "keep it encrypted: pulumi config set --secret ai-platform-secrets:<name> <value>, and reference "
                "<name> where the configuration takes a secret key (e.g. monitoring.alerts.webhooks.<receiver>."
                "urlSecret); remove it from here",
            )
        ]
    return []


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
