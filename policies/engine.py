"""The rule engine shared by the CrossGuard pack, the offline plan and ``python -m stacks check``.

A rule is a small pure function over one resource (:class:`Resource`: type, camelCase inputs, options) or
over the whole stack (:class:`StackView`). It yields :class:`Finding` objects; the engine turns them into
violations ``{policy, enforcement, urn, message}`` after applying the pack configuration (the same JSON
that ``pulumi preview --policy-pack-config`` takes) and the waivers in it.

Unknown values (``null`` in the plan, unknown during a CLI preview) never pass a check silently: a rule
reports them with ``unknown=True`` and the engine downgrades the finding to an advisory "cannot verify".
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pulumi_policy import proxy
from pulumi_policy.proxy import UnknownValueError

Enforcement = Literal["advisory", "mandatory", "disabled"]
Severity = Literal["low", "medium", "high", "critical"]
ENFORCEMENTS: tuple[str, ...] = ("advisory", "mandatory", "disabled")

CLUSTER = "azure-native:containerservice:ManagedCluster"
AGENT_POOL = "azure-native:containerservice:AgentPool"


class _Missing(enum.Enum):
    """Why a property has no value: not known before the deployment (null in the plan, unknown in a
    preview), or not set at all. Enum members stay singletons through copy and pickle, so ``is`` is safe."""

    UNKNOWN = "<unknown>"
    UNSET = "<unset>"

    def __repr__(self) -> str:
        return self.value

    def __bool__(self) -> bool:
        return False


UNKNOWN: Any = _Missing.UNKNOWN
UNSET: Any = _Missing.UNSET


def lookup(inputs: Any, path: str, default: Any = UNSET) -> Any:
    """The value at a dotted camelCase ``path``; ``default`` when unset, :data:`UNKNOWN` when unknown.

    ``default`` is where a rule states the effective Azure default of a property it judges.
    """
    current = inputs
    for part in path.split("."):
        if current is None or current is UNKNOWN:
            return UNKNOWN
        if not isinstance(current, Mapping):
            return default
        if part not in current:
            return default
        current = current[part]
    return UNKNOWN if current is None else current


@dataclass(frozen=True)
class Resource:
    """One resource as a policy sees it: what the plan document (or the CLI) says about it."""

    urn: str
    type: str
    name: str
    inputs: Mapping[str, Any]
    protect: bool = False
    parent: str | None = None
    dependencies: tuple[str, ...] = ()
    provider: str | None = None

    def get(self, path: str, default: Any = UNSET) -> Any:
        return lookup(self.inputs, path, default)

    @property
    def label(self) -> str:
        """How messages name the resource: type and logical name."""
        return f"{self.type.split(':')[-1]} '{self.name}'"


@dataclass(frozen=True)
class Finding:
    message: str
    urn: str | None = None
    unknown: bool = False


@dataclass
class RuleContext:
    """What a rule may know besides the resources: its own settings from the pack configuration."""

    settings: Mapping[str, Any]
    stack: StackView | None = None

    def setting(self, key: str, default: Any = None) -> Any:
        value = self.settings.get(key, default)
        return default if value is None else value


@dataclass(frozen=True)
class Rule:
    """One policy of the pack. ``id`` is stable: waivers and pack configuration refer to it."""

    id: str
    description: str
    severity: Severity
    enforcement: Enforcement
    """Default enforcement when the pack configuration says nothing about this rule."""
    check: Callable[..., Iterable[Finding]]
    scope: Literal["resource", "stack"] = "resource"
    types: tuple[str, ...] = ()
    """Resource types a resource rule applies to (empty: every resource)."""
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """JSON-schema properties of the rule's own configuration (besides ``waivers``)."""

    def applies_to(self, resource_type: str) -> bool:
        return not self.types or resource_type in self.types


class StackView:
    """The whole stack: resources by URN and the relations rules need (cluster of a pool, children...)."""

    def __init__(self, resources: Sequence[Resource], cost: Mapping[str, Any] | None = None) -> None:
        self.resources = list(resources)
        self.by_urn = {r.urn: r for r in self.resources}
        self.cost = cost
        # Indexed once, so rules that look up a resource's cluster stay linear in the plan size.
        self._by_type: dict[str, list[Resource]] = {}
        for r in self.resources:
            self._by_type.setdefault(r.type, []).append(r)
        self._clusters = list(self._by_type.get(CLUSTER, ()))
        self._clusters_by_name: dict[Any, list[Resource]] = {}
        self._clusters_under: dict[str, list[Resource]] = {}
        for cluster in self._clusters:
            name = cluster.inputs.get("resourceName")
            if isinstance(name, str):
                self._clusters_by_name.setdefault(name, []).append(cluster)
            for ancestor in {*(self.ancestors(cluster)), *([cluster.parent] if cluster.parent else [])}:
                self._clusters_under.setdefault(ancestor, []).append(cluster)
        self._cluster_memo: dict[str, Resource | None] = {}

    def of_type(self, *types: str) -> list[Resource]:
        if len(types) == 1:
            return list(self._by_type.get(types[0], ()))
        wanted = set(types)
        return [r for r in self.resources if r.type in wanted]

    @property
    def clusters(self) -> list[Resource]:
        return list(self._clusters)

    def ancestors(self, resource: Resource) -> Iterator[str]:
        parent = resource.parent
        seen: set[str] = set()
        while parent and parent not in seen:
            seen.add(parent)
            yield parent
            nxt = self.by_urn.get(parent)
            parent = nxt.parent if nxt else None

    def cluster_of(self, resource: Resource) -> Resource | None:
        """The AKS cluster a resource belongs to: by dependency, by cluster name, or by shared component."""
        for dep in resource.dependencies:
            found = self.by_urn.get(dep)
            if found is not None and found.type == CLUSTER:
                return found
        name = resource.inputs.get("resourceName")
        if isinstance(name, str) and name in self._clusters_by_name:
            return self._clusters_by_name[name][0]
        if resource.provider and resource.provider in self.by_urn:
            provider = self.by_urn[resource.provider]
            found = self._cluster_under(provider)
            if found is not None:
                return found
        return self._cluster_under(resource)

    def _cluster_under(self, resource: Resource) -> Resource | None:
        if resource.urn in self._cluster_memo and self.by_urn.get(resource.urn) is resource:
            return self._cluster_memo[resource.urn]
        found = None
        for ancestor in self.ancestors(resource):
            under = self._clusters_under.get(ancestor, ())
            if len(under) == 1:
                found = under[0]
                break
        if self.by_urn.get(resource.urn) is resource:
            self._cluster_memo[resource.urn] = found
        return found

    def depends_on(self, resource: Resource, target: Resource) -> bool:
        return target.urn in resource.dependencies


# ----------------------------------------------------------------------------------------------------------
# Pack configuration: {"all": level, "<rule>": level | {"enforcementLevel": level, ...settings, "waivers": [...]}}


@dataclass(frozen=True)
class Waiver:
    rule: str
    resource: str
    reason: str
    expires: dt.date

    def matches(self, resource: Resource | None, urn: str | None) -> bool:
        if urn is not None and self.resource == urn:
            return True
        return resource is not None and self.resource == resource.name

    @staticmethod
    def parse(raw: Mapping[str, Any], rule: str | None = None) -> Waiver:
        expires = raw.get("expires")
        when = expires if isinstance(expires, dt.date) else dt.date.fromisoformat(str(expires))
        return Waiver(str(raw.get("rule", rule or "")), str(raw.get("resource", "")), str(raw.get("reason", "")), when)


def enforcement_of(rule: Rule, pack_config: Mapping[str, Any]) -> str:
    """Per-rule config, then ``all``, then the rule's own level (CrossGuard's order)."""
    entry = pack_config.get(rule.id)
    if isinstance(entry, str):
        return entry
    if isinstance(entry, Mapping) and isinstance(entry.get("enforcementLevel"), str):
        return str(entry["enforcementLevel"])
    if isinstance(pack_config.get("all"), str):
        return str(pack_config["all"])
    return rule.enforcement


def settings_of(rule: Rule, pack_config: Mapping[str, Any]) -> dict[str, Any]:
    entry = pack_config.get(rule.id)
    if isinstance(entry, Mapping):
        return {k: v for k, v in entry.items() if k != "enforcementLevel"}
    return {}


def waivers_of(settings: Mapping[str, Any], rule: str) -> list[Waiver]:
    waivers = []
    for raw in settings.get("waivers") or []:
        try:
            waivers.append(Waiver.parse(raw, rule))
        except (TypeError, ValueError):
            continue  # reported by the waiver-valid rule
    return waivers


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: str
    urn: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "enforcement": self.enforcement, "urn": self.urn, "message": self.message}


def cannot_verify(message: str) -> str:
    return f"cannot verify before deployment: {message}"


def evaluate(
    rules: Sequence[Rule],
    resources: Sequence[Resource],
    pack_config: Mapping[str, Any],
    cost: Mapping[str, Any] | None = None,
    today: dt.date | None = None,
) -> list[Violation]:
    """Run every enabled rule; apply waivers; unknown-value findings become advisory."""
    today = today or dt.date.today()
    stack = StackView(resources, cost)
    violations: list[Violation] = []
    for rule in rules:
        level = enforcement_of(rule, pack_config)
        if level == "disabled":
            continue
        for finding in findings(rule, stack, settings_of(rule, pack_config), today):
            enforcement = "advisory" if finding.unknown else level
            message = cannot_verify(finding.message) if finding.unknown else finding.message
            violations.append(Violation(rule.id, enforcement, finding.urn, message))
    return violations


def findings(rule: Rule, stack: StackView, settings: Mapping[str, Any], today: dt.date) -> Iterator[Finding]:
    """What ``rule`` finds on ``stack`` with its ``settings`` (``today`` dates the waivers), minus waived findings.

    One path for the offline evaluation and the CrossGuard adapters (policies/pack.py).
    """
    context = RuleContext({**settings, "today": today.isoformat()}, stack)
    return unwaived(run_rule(rule, stack, context), settings, rule.id, stack, today)


def unwaived(
    findings: Iterable[Finding], settings: Mapping[str, Any], rule_id: str, stack: StackView, today: dt.date
) -> Iterator[Finding]:
    """Findings that no current waiver of this rule covers (an expired waiver covers nothing)."""
    waivers = [w for w in waivers_of(settings, rule_id) if w.expires >= today]
    for finding in findings:
        target = stack.by_urn.get(finding.urn) if finding.urn else None
        if not any(w.matches(target, finding.urn) for w in waivers):
            yield finding


def run_rule(rule: Rule, stack: StackView, context: RuleContext) -> Iterator[Finding]:
    if rule.scope == "stack":
        yield from rule.check(stack, context)
        return
    for resource in stack.resources:
        if rule.applies_to(resource.type):
            for finding in rule.check(resource, context):
                yield finding if finding.urn else Finding(finding.message, resource.urn, finding.unknown)


# ----------------------------------------------------------------------------------------------------------
# Adapters: plan documents and CrossGuard objects to Resource


def resources_from_plan(document: Mapping[str, Any]) -> list[Resource]:
    """Custom resources and components of a ``platform-plan/v1`` document."""
    return [
        Resource(
            urn=str(raw["urn"]),
            type=str(raw["type"]),
            name=str(raw["name"]),
            inputs=raw.get("inputs") or {},
            protect=bool(raw.get("protect")),
            parent=raw.get("parent"),
            dependencies=tuple(raw.get("dependencies") or ()),
            provider=raw.get("provider"),
        )
        for raw in document.get("resources") or []
    ]


def plain_props(props: Any) -> Any:
    """CrossGuard props or config to the plain data the plan holds: the one conversion every rule relies on.

    Pulumi's policy runner hands a rule what the engine sent as a protobuf ``Struct``
    (``pulumi_policy/policy.py``: ``deserialize_properties(json_format.MessageToDict(request.properties))``
    wrapped by ``unknown_checking_proxy``; ``Configure`` reads the pack config the same way). So mappings and
    lists arrive as read-only proxies (``pulumi_policy/proxy.py`` ``_DictProxy``/``_ListProxy``, which are
    ``Mapping``/``Sequence`` but not ``dict``/``list``), every number as a float (``Struct`` has only
    ``number_value``: a count of 6 arrives as ``6.0``), and unknowns as sentinel strings or raise
    ``UnknownValueError`` on access. This returns ``dict``/``list``, integral floats as ``int`` (the program
    sent ints: counts, sizes, ports), and unknowns as ``None``, which is how the plan writes an unknown, so
    the offline plan and the CLI judge the same shapes with the same rules.
    """
    if isinstance(props, Mapping):
        out: dict[str, Any] = {}
        for key in list(props.keys()):
            try:
                value = props[key]
            except UnknownValueError:
                out[key] = None
                continue
            out[key] = plain_props(value)
        return out
    if isinstance(props, Sequence) and not isinstance(props, (str, bytes)):
        items: list[Any] = []
        for index in range(len(props)):
            try:
                items.append(plain_props(props[index]))
            except UnknownValueError:
                items.append(None)
        return items
    if isinstance(props, str) and _is_unknown_sentinel(props):
        return None
    if isinstance(props, float) and props.is_integer():
        return int(props)
    return props


def _is_unknown_sentinel(value: str) -> bool:
    return value in {
        proxy.UNKNOWN_BOOLEAN_VALUE,
        proxy.UNKNOWN_NUMBER_VALUE,
        proxy.UNKNOWN_STRING_VALUE,
        proxy.UNKNOWN_ARRAY_VALUE,
        proxy.UNKNOWN_OBJECT_VALUE,
        proxy.UNKNOWN_ASSET_VALUE,
        proxy.UNKNOWN_ARCHIVE_VALUE,
    }
