"""In-cluster network guards: every team namespace keeps its default ingress isolation."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from components.facts import (
    DEFAULT_NETWORK_POLICY,
    MANAGED_CLUSTER_API_VERSION,
    MODEL_LABEL,
    MTLS_LABEL,
    MTLS_SWITCH_IN_API,
    NAMESPACE_NAME_LABEL,
    TEAM_LABEL,
)
from policies.engine import UNKNOWN, Finding, Resource, Rule, RuleContext, StackView
from policies.rules._util import at, unknown

NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
CILIUM_POLICY = "kubernetes:cilium.io/v2:CiliumNetworkPolicy"
EGRESS_DEFAULT_DENY = "egress-default-deny"
"""The CiliumNetworkPolicy that denies a team namespace's egress by default (components/dra/egress.py)."""


def _cluster_key(r: Resource) -> str:
    """Which cluster a Kubernetes object lives on: its provider (or, without one, its parent component)."""
    return r.provider or r.parent or ""


def _open_peer(peer: Any) -> str | None:
    """Why one ``from`` peer admits more than named namespaces, or None if it does not."""
    if not isinstance(peer, Mapping):
        return "an unreadable peer"
    if "ipBlock" in peer:
        return "an ipBlock peer (addresses, any namespace)"
    selector = peer.get("namespaceSelector")
    if selector is None:
        return None  # podSelector alone: pods of the policy's own namespace
    if not isinstance(selector, Mapping):
        return "an unreadable namespaceSelector"
    labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    named = NAMESPACE_NAME_LABEL in labels or any(
        isinstance(e, Mapping) and e.get("key") == NAMESPACE_NAME_LABEL and e.get("operator") == "In"
        for e in expressions
    )
    return None if named else "a namespaceSelector that does not name namespaces"


def isolation_gap(policy: Resource) -> str | None:
    """What keeps ``policy`` from being the default isolation of its namespace (None: it is)."""
    spec = policy.get("spec")
    if not isinstance(spec, Mapping):
        return "it has no spec"
    types = spec.get("policyTypes")
    if isinstance(types, list) and "Ingress" not in types:
        return f"policyTypes is {types} (no Ingress)"
    selector = spec.get("podSelector")
    # Only model servers may be left out: on L7 clusters their own CiliumNetworkPolicy covers them.
    model_servers = {"key": MODEL_LABEL, "operator": "DoesNotExist"}
    if (
        not isinstance(selector, Mapping)
        or selector.get("matchLabels")
        or any(dict(e) != model_servers for e in selector.get("matchExpressions") or [] if isinstance(e, Mapping))
    ):
        return "its podSelector does not select the namespace's pods"
    for rule in spec.get("ingress") or []:
        peers = rule.get("from") if isinstance(rule, Mapping) else None
        if not peers:
            return "an ingress rule without 'from' admits every source"
        for peer in peers:
            why = _open_peer(peer)
            if why:
                return f"ingress admits {why}"
    return None


def _team_namespaces(stack: StackView, policy_type: str, policy_name: str) -> Iterator[tuple[Resource, Any, Any]]:
    """Each team Namespace with its team and the ``policy_name`` policies of ``policy_type`` in it on its cluster
    (``found`` is None when the namespace's name is not known)."""
    policies: dict[tuple[str, str], list[Resource]] = {}
    for p in stack.of_type(policy_type):
        namespace = p.get("metadata.namespace")
        if isinstance(namespace, str) and p.get("metadata.name") == policy_name:
            policies.setdefault((_cluster_key(p), namespace), []).append(p)
    for ns in stack.of_type(NAMESPACE):
        labels = ns.get("metadata.labels", {})
        team = labels.get(TEAM_LABEL) if isinstance(labels, Mapping) else None
        if team is not None:
            name = ns.get("metadata.name")
            yield ns, team, policies.get((_cluster_key(ns), name), []) if isinstance(name, str) else None


def team_network_isolation(stack: StackView, _: RuleContext) -> Iterator[Finding]:
    for ns, team, found in _team_namespaces(stack, NETWORK_POLICY, DEFAULT_NETWORK_POLICY):
        name = ns.get("metadata.name")
        expected = (
            f"a NetworkPolicy {DEFAULT_NETWORK_POLICY} in it (policyTypes Ingress; ingress only from the "
            "namespace itself, named namespaces and the metrics collector)"
        )
        if found is None:
            yield at(unknown(ns, "metadata.name", expected), ns.urn)
            continue
        fix = f"set teams.{team}.networkIsolation: true"
        if not found:
            yield Finding(
                f"{ns.label}: networkPolicy is unset (every pod of the cluster may connect to namespace "
                f"{name!r}); expected {expected}. Fix: {fix}",
                ns.urn,
            )
            continue
        if any(p.get("spec") is UNKNOWN for p in found):
            yield at(unknown(ns, f"networkPolicy {DEFAULT_NETWORK_POLICY}", expected), ns.urn)
            continue
        gaps = [gap for gap in (isolation_gap(p) for p in found) if gap]
        if len(gaps) == len(found):
            yield Finding(
                f"{ns.label}: networkPolicy {DEFAULT_NETWORK_POLICY} does not isolate namespace {name!r}: "
                f"{gaps[0]}; expected {expected}. Fix: {fix} (and keep the blueprint's policy unedited)",
                ns.urn,
            )


def _egress_gap(policy: Resource) -> str | None:
    """What keeps ``policy`` from denying the namespace's egress by default (None: it does)."""
    spec = policy.get("spec")
    if not isinstance(spec, Mapping):
        return "it has no spec"
    if spec.get("endpointSelector") not in ({}, {"matchLabels": {}}):
        return "its endpointSelector does not select every pod of the namespace"
    for rule in spec.get("egress") or []:
        if not isinstance(rule, Mapping):
            return "an egress rule is unreadable"
        if rule.get("toEntities") and set(rule["toEntities"]) & {"all", "world"}:
            return f"an egress rule allows toEntities {list(rule['toEntities'])}"
        if any(c in ("0.0.0.0/0", "::/0") for c in rule.get("toCIDR") or []):
            return "an egress rule allows toCIDR 0.0.0.0/0"
        if any(isinstance(f, Mapping) and f.get("matchPattern") == "*" for f in rule.get("toFQDNs") or []):
            return "an egress rule allows toFQDNs matchPattern '*' (every host)"
    return None


def team_egress_default_deny(stack: StackView, _: RuleContext) -> Iterator[Finding]:
    for ns, team, found in _team_namespaces(stack, CILIUM_POLICY, EGRESS_DEFAULT_DENY):
        name = ns.get("metadata.name")
        expected = (
            f"a CiliumNetworkPolicy {EGRESS_DEFAULT_DENY} in it selecting every pod (egress only to DNS, the "
            "namespace and named hosts)"
        )
        if found is None:
            yield at(unknown(ns, "metadata.name", expected), ns.urn)
            continue
        fix = f"set teams.{team}.egress.defaultDeny: true (and list the hosts it needs in egress.allowFqdns)"
        if not found:
            yield Finding(
                f"{ns.label}: egress policy is unset (pods of namespace {name!r} may connect anywhere); expected "
                f"{expected}. Fix: {fix}",
                ns.urn,
            )
            continue
        if any(p.get("spec") is UNKNOWN for p in found):
            yield at(unknown(ns, f"ciliumNetworkPolicy {EGRESS_DEFAULT_DENY}", expected), ns.urn)
            continue
        gaps = [gap for gap in (_egress_gap(p) for p in found) if gap]
        if gaps:
            yield Finding(
                f"{ns.label}: ciliumNetworkPolicy {EGRESS_DEFAULT_DENY} does not deny egress by default in "
                f"namespace {name!r}: {gaps[0]}; expected {expected}. Fix: {fix} (and keep the blueprint's policy "
                "unedited)",
                ns.urn,
            )


def mtls_not_enforced(r: Resource, _: RuleContext) -> Iterator[Finding]:
    """A namespace that asks for sidecar-free mTLS while the cluster's API version cannot switch it on."""
    labels = r.get("metadata.labels", {})
    if not isinstance(labels, Mapping) or labels.get(MTLS_LABEL) != "true" or MTLS_SWITCH_IN_API:
        return
    team = labels.get(TEAM_LABEL)
    fix = (
        "treat this namespace's pod traffic as unencrypted; turning mTLS on needs a preview ManagedCluster API "
        "version (pulumi package add azure-native containerservice <preview version>), which this blueprint does "
        "not use"
    )
    if isinstance(team, str):
        fix += f", or drop the request with teams.{team}.mtls: false"
    yield Finding(
        f"{r.label}: mTLS requested, not enforced: label {MTLS_LABEL}=true asks for sidecar-free mTLS, but "
        f"ManagedCluster API version {MANAGED_CLUSTER_API_VERSION} has no property that turns Cilium "
        "mTLS or transit encryption on (networkProfile.advancedNetworking.security has only enabled and "
        f"advancedNetworkPolicies); expected an enforced mTLS switch on the cluster. Fix: {fix}"
    )


RULES: list[Rule] = [
    Rule(
        "team-network-isolation",
        "Every team namespace has the default NetworkPolicy that admits ingress only from named namespaces.",
        "high",
        "mandatory",
        team_network_isolation,
        scope="stack",
    ),
    Rule(
        "team-egress-default-deny",
        "Every team namespace denies egress by default (Cilium FQDN policy: DNS, the namespace and named hosts).",
        "high",
        "advisory",
        team_egress_default_deny,
        scope="stack",
    ),
    Rule(
        "team-mtls-not-enforced",
        "A namespace that requests sidecar-free mTLS is reported as not enforced while the cluster's API version "
        "cannot switch it on.",
        "medium",
        "advisory",
        mtls_not_enforced,
        types=(NAMESPACE,),
    ),
]
