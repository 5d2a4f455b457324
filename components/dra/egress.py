"""FQDN egress policies of team namespaces (pure): ``cilium.io/v2`` CiliumNetworkPolicy objects.

With ``teams.<team>.egress.defaultDeny`` a namespace gets:

- ``egress-default-deny`` selecting every pod of the namespace. Cilium denies a selected pod's egress that no rule
  allows, so this one policy is the default deny. It allows DNS to kube-dns with the DNS proxy rule
  (``rules.dns``): Cilium learns the addresses behind ``toFQDNs`` names only from lookups its proxy sees, so
  FQDN rules without it never match. It also allows the namespace's own pods and, on port 443, the team's
  ``allowFqdns``.
- ``egress-model-hub`` selecting the blueprint's model-server pods (label ``ai-platform/model``): port 443 to
  the Hugging Face Hub and its download hosts, which vLLM fetches weights from at start. The host list is the
  Hub's "Downloading behind a proxy or firewall" guidance (huggingface/hub-docs pull requests #2628 and #2647):
  ``huggingface.co`` plus ``*.huggingface.co``, ``*.hf.co`` (CDN, regional LFS) and ``*.xethub.hf.co`` (Xet
  storage); Cilium's ``*`` matches one DNS label, so ``*.xethub.hf.co`` is listed on its own.

Image pulls are not pod traffic (the node's container runtime pulls), so registries need no pod egress rule.
toFQDNs needs ACNS security on the cluster (``advancedNetworking.security``: FQDN or L7); a team with
``defaultDeny`` on a cluster without it is a config error (checks.py). Schemas: tests validate these objects
against the Cilium CRD at 1.17.1 and 1.18.2 (tests/fixtures/cilium/).
"""

from __future__ import annotations

from typing import Any

from components.facts import MODEL_LABEL, RAY_MODEL_LABEL, TEAM_LABEL
from components.teams import TeamSpec

CILIUM_API_VERSION = "cilium.io/v2"
EGRESS_DEFAULT_DENY = "egress-default-deny"
EGRESS_MODEL_HUB = "egress-model-hub"
EGRESS_MODEL_HUB_RAY = "egress-model-hub-ray"
MODEL_HUB_FQDNS: tuple[str, ...] = ("huggingface.co", "*.huggingface.co", "*.hf.co", "*.xethub.hf.co")
"""Where model servers download weights from (huggingface/hub-docs #2628, #2647: Hub API, Xet, CDN, LFS hosts)."""
KUBE_DNS = {"k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:k8s-app": "kube-dns"}
"""AKS's CoreDNS pods (``k8s-app: kube-dns`` in ``kube-system``), as Cilium endpoint labels."""
HTTPS = [{"ports": [{"port": "443", "protocol": "TCP"}]}]


def _fqdn(host: str) -> dict[str, str]:
    return {"matchPattern": host} if host.startswith("*") else {"matchName": host}


def _policy(team: str, name: str, description: str, selector: dict[str, Any], egress: list[Any]) -> dict[str, Any]:
    return {
        "apiVersion": CILIUM_API_VERSION,
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": name, "namespace": team, "labels": {TEAM_LABEL: team}},
        "spec": {"description": description, "endpointSelector": selector, "egress": egress},
    }


def egress_policies(team: str, spec: TeamSpec) -> list[dict[str, Any]]:
    """The namespace's egress policies (none unless ``egress.defaultDeny``)."""
    egress = spec.egress
    if not egress.default_deny:
        return []
    rules: list[dict[str, Any]] = [
        {
            "toEndpoints": [{"matchLabels": dict(KUBE_DNS)}],
            "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}], "rules": {"dns": [{"matchPattern": "*"}]}}],
        },
        {"toEndpoints": [{}]},
    ]
    if egress.allow_fqdns:
        rules.append({"toFQDNs": [_fqdn(h) for h in sorted(set(egress.allow_fqdns))], "toPorts": HTTPS})
    allowed = ", ".join(sorted(set(egress.allow_fqdns))) or "nothing else"
    policies = [
        _policy(
            team,
            EGRESS_DEFAULT_DENY,
            f"{team}: egress only to DNS, the namespace itself and {allowed}",
            {},
            rules,
        )
    ]
    if egress.model_hub:
        policies.append(
            _policy(
                team,
                EGRESS_MODEL_HUB,
                f"{team}: model servers download weights from the Hugging Face Hub",
                {"matchExpressions": [{"key": MODEL_LABEL, "operator": "Exists"}]},
                [{"toFQDNs": [_fqdn(h) for h in MODEL_HUB_FQDNS], "toPorts": HTTPS}],
            )
        )
        # Ray pods of runtime kuberay models download their checkpoint too (each pipeline stage, at start).
        policies.append(
            _policy(
                team,
                EGRESS_MODEL_HUB_RAY,
                f"{team}: Ray pods of kuberay models download weights from the Hugging Face Hub",
                {"matchExpressions": [{"key": RAY_MODEL_LABEL, "operator": "Exists"}]},
                [{"toFQDNs": [_fqdn(h) for h in MODEL_HUB_FQDNS], "toPorts": HTTPS}],
            )
        )
    return policies
