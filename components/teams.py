"""Teams: ``teams.<name>`` in stack config, and the namespace each team gets on its clusters.

Shared by the components that act on a team's namespace (DRA creates it and its guards, Fleet can own it
instead, model serving deploys into it) and by the composition; it builds no resource itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Protocol

from pydantic import Field, model_validator

from components._common import Issue, Spec, raise_issues
from components.facts import MTLS_LABEL, TEAM_LABEL

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
NAMESPACE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
"""Any namespace name (RFC 1123 label); team keys use the stricter :data:`DNS_LABEL`."""


class _Features(Protocol):
    @property
    def dra(self) -> bool: ...


class _Cluster(Protocol):
    """What :func:`team_clusters` reads of a cluster's spec (``ClusterSpec`` satisfies it)."""

    @property
    def features(self) -> _Features: ...


FQDN = re.compile(r"^(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
"""A host name, or ``*.`` plus a domain (Cilium ``matchPattern``: ``*`` matches one DNS label)."""


class EgressSpec(Spec):
    """``teams.<name>.egress``: FQDN-based egress (Cilium ``toFQDNs``, needs ACNS security on the cluster)."""

    default_deny: bool = False
    """Deny all egress from the namespace's pods except DNS, the namespace itself, ``allowFqdns`` and (for model
    servers) the model hub."""
    allow_fqdns: list[str] = Field(default_factory=list)
    """Host names (or ``*.domain`` patterns) every pod of the namespace may reach on port 443."""
    model_hub: bool = True
    """Model-server pods may reach the Hugging Face Hub and its download hosts (weights are fetched at start)."""

    @model_validator(mode="after")
    def _check(self) -> EgressSpec:
        issues: list[Issue] = []
        for i, host in enumerate(self.allow_fqdns):
            if not FQDN.match(host):
                issues.append(
                    Issue(
                        ("allowFqdns", i),
                        "is not a host name or *.domain pattern",
                        host,
                        "lowercase DNS names, e.g. pypi.org or *.blob.core.windows.net",
                        "write the host name without scheme, port or path",
                    )
                )
        if self.allow_fqdns and not self.default_deny:
            issues.append(
                Issue(
                    ("allowFqdns",),
                    "only applies with defaultDeny true (without it all egress is open)",
                    self.allow_fqdns,
                    "unset",
                    "remove allowFqdns or set defaultDeny: true",
                )
            )
        raise_issues(issues)
        return self


class TeamSpec(Spec):
    """``teams.<name>``: a namespace per cluster with the GPU profiles the team may claim, within quota."""

    clusters: list[str] | None = None
    """Clusters the team gets a namespace on; default: every cluster with ``features.dra``."""
    profiles: dict[str, Annotated[int, Field(ge=1, le=4096)]] = Field(default_factory=dict)
    """Profile key -> the most devices of that profile's class the team may hold at once (ResourceQuota)."""
    mtls: bool = False
    """Label the namespace ``io.cilium/mtls-enabled: "true"`` (sidecar-free mTLS opt-in)."""
    network_isolation: bool = True
    """Ingress only from the namespace itself, ``allowIngressFrom`` and the metrics collector; false opens it."""
    allow_ingress_from: list[str] = Field(default_factory=list)
    """Other namespaces (names) whose pods may reach this team's pods, e.g. an ingress controller's."""
    egress: EgressSpec = Field(default_factory=EgressSpec)
    """FQDN egress policy of the namespace (components/dra/egress.py)."""

    @model_validator(mode="after")
    def _check(self) -> TeamSpec:
        issues: list[Issue] = []
        for i, namespace in enumerate(self.allow_ingress_from):
            if not NAMESPACE_NAME.match(namespace):
                issues.append(
                    Issue(
                        ("allowIngressFrom", i),
                        "is not a namespace name (DNS label)",
                        namespace,
                        NAMESPACE_NAME.pattern,
                        "use the namespace's name, e.g. app-routing-system",
                    )
                )
        if self.allow_ingress_from and not self.network_isolation:
            issues.append(
                Issue(
                    ("allowIngressFrom",),
                    "only applies with networkIsolation true (without it every namespace may connect)",
                    self.allow_ingress_from,
                    "unset",
                    "remove allowIngressFrom or set networkIsolation: true",
                )
            )
        raise_issues(issues)
        return self


def team_clusters(team: TeamSpec, clusters: Mapping[str, _Cluster]) -> list[str]:
    """The clusters the team gets a namespace on: ``teams.<name>.clusters``, else every cluster with DRA."""
    if team.clusters is not None:
        return list(team.clusters)
    return [key for key, spec in clusters.items() if spec.features.dra]


def namespace_object(team: str, spec: TeamSpec) -> dict[str, Any]:
    labels = {TEAM_LABEL: team}
    if spec.mtls:
        labels[MTLS_LABEL] = "true"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": team, "labels": labels}}
