"""CrossGuard adapters: each engine rule as a ``ResourceValidationPolicy`` or ``StackValidationPolicy``.

Importable (it does not start the analyzer; ``policies/__main__.py`` does). Under the CLI the rule sees the
same :class:`~policies.engine.Resource` shape as in the offline plan: camelCase inputs with unknowns as
``None``, plain lists and dicts, integral numbers as ``int`` (:func:`~policies.engine.plain_props`, applied
once to every resource's props and every rule's config before any rule runs). Definite findings are
reported with the rule's enforcement; "cannot verify" findings are raised as an unknown-value error, which
CrossGuard reports as advisory during preview.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from policies.engine import Finding, Resource, Rule, StackView, cannot_verify, findings, plain_props
from policies.pack_config import settings_schema
from policies.rules import RULES

PACK_NAME = "ai-platform"


def resource_from_args(args: ResourceValidationArgs) -> Resource:
    return Resource(
        urn=args.urn,
        type=args.resource_type,
        name=args.name,
        inputs=plain_props(args.props),
        protect=bool(args.opts.protect),
        parent=args.opts.parent,
        provider=args.provider.urn if args.provider else None,
    )


def resource_from_policy_resource(r: Any) -> Resource:
    return Resource(
        urn=r.urn,
        type=r.resource_type,
        name=r.name,
        inputs=plain_props(r.props),
        protect=bool(r.opts.protect),
        parent=r.parent.urn if r.parent is not None else r.opts.parent,
        dependencies=tuple(d.urn for d in r.dependencies),
        provider=r.provider.urn if r.provider else None,
    )


def _report(findings: Iterable[Finding], report_violation: ReportViolation, stack_level: bool) -> None:
    unknowns = []
    for finding in findings:
        if finding.unknown:
            unknowns.append(cannot_verify(finding.message))
        else:
            report_violation(finding.message, finding.urn if stack_level else None)
    if unknowns:
        error = UnknownValueError(UNKNOWN_STRING_VALUE, [])
        error.message = "; ".join(unknowns)
        raise error


def _resource_validate(rule: Rule) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not rule.applies_to(args.resource_type):
            return
        stack = StackView([resource_from_args(args)])
        settings = plain_props(args.get_config() or {})
        _report(findings(rule, stack, settings, dt.date.today()), report_violation, False)

    return validate


def _stack_validate(rule: Rule) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        stack = StackView([resource_from_policy_resource(r) for r in args.resources])
        settings = plain_props(args.get_config() or {})
        _report(findings(rule, stack, settings, dt.date.today()), report_violation, True)

    return validate


def build_policies(rules: list[Rule] | None = None) -> list[Policy]:
    policies: list[Policy] = []
    for rule in rules or RULES:
        common: dict[str, Any] = {
            "enforcement_level": EnforcementLevel(rule.enforcement),
            "config_schema": PolicyConfigSchema(settings_schema(rule.id)),
            "severity": Severity(rule.severity),
        }
        if rule.scope == "stack":
            policies.append(StackValidationPolicy(rule.id, rule.description, _stack_validate(rule), **common))
        else:
            policies.append(ResourceValidationPolicy(rule.id, rule.description, _resource_validate(rule), **common))
    return policies
