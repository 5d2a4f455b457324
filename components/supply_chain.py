"""Gated supply chain per cluster: Kyverno and the ClusterPolicy that admits only pinned images from allowed
registries, verifying publisher signatures where the publisher documents them.

Why Kyverno (chart ``kyverno`` from ``https://kyverno.github.io/kyverno/``, pinned in ``supplyChain.kyverno``):
it is a CNCF project installed by a chart the blueprint can pin, its ClusterPolicy is declarative state Pulumi
owns, and it verifies Sigstore signatures and attestations (``verifyImages``) with per-rule ``failureAction``
``Audit``/``Enforce``. The alternative, Ratify with Azure Policy (AKS "image integrity"), is a preview feature
switched on through ``securityProfile.imageIntegrity``, which the default ManagedCluster API version
(2025-09-01) does not have.

The policy ``ai-platform-supply-chain`` (kyverno.io/v1 ClusterPolicy) matches Pods (and, by Kyverno's autogen,
their controllers) in the namespaces the blueprint owns (team namespaces and the GPU driver/monitoring
namespaces), with three rules, each ``Audit`` or ``Enforce`` from ``supplyChain.admission`` (dev: Audit, prod:
Enforce):

- ``allowed-registries``: every container, init and ephemeral container image from ``allowedRegistries``;
- ``require-digest``: every image pinned by ``@sha256:`` digest;
- ``verify-signatures``: images of registries whose publisher signs keyless (``registry.k8s.io``: the Kubernetes
  image promoter's identity, components/images.py) carry a valid signature for the pinned digest.

Images whose publisher documents no signature (vLLM on Docker Hub, NVIDIA's NGC images) are admitted by their
pinned digest alone (the digest in components/images.py is the trust anchor). Namespaces that run an image with
no known digest (the DCGM exporter's ``gpu-monitoring``) are left out of the match and listed by the plan, so an
``Enforce`` policy never blocks the blueprint's own unpinned image silently; the policy pack's ``images-pinned``
rule reports the image itself.

Run time: the ClusterPolicy is a custom resource of the chart's CRDs, so it depends on the Release (Helm waits for
the CRDs); Kyverno's webhook then admits or audits every new Pod. Kyverno's own pods run on system nodes
(``global.nodeSelector``/``tolerations``). Verifying signatures needs egress from the ``kyverno`` namespace to the
registry and to Sigstore (Rekor, TUF root).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field

from components._common import TYPE_PREFIX, Spec
from components.facts import SYSTEM_TAINT
from components.images import IMAGES, K8S_RELEASE_SIGNER, chart_image_tag

KYVERNO_NAMESPACE = "kyverno"
POLICY_NAME = "ai-platform-supply-chain"
REKOR_URL = "https://rekor.sigstore.dev"
DEFAULT_REGISTRIES = (
    "registry.k8s.io",
    "nvcr.io",
    "docker.io/vllm",
    "docker.io/rayproject",
    "mcr.microsoft.com/aks/kaito",
)
"""The registries (and repository prefixes) the blueprint's own images come from (components/images.py), the
model runtimes' included: KubeRay's Ray image and the preset images KAITO's controller picks."""


class KyvernoChartSpec(Spec):
    repository: Annotated[str, Field(pattern=r"^https://")] = "https://kyverno.github.io/kyverno/"
    chart: str = "kyverno"
    version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")] = "3.5.2"
    """Chart 3.5.2 runs Kyverno v1.15.2 (charts/kyverno/Chart.yaml ``appVersion``)."""


class SupplyChainSpec(Spec):
    """``supplyChain`` in stack config: admission of images by registry, digest and signature."""

    enabled: bool = True
    admission: Literal["Audit", "Enforce"] = "Enforce"
    """Kyverno's ``failureAction`` for every rule: Enforce refuses a Pod, Audit admits it and reports it."""
    allowed_registries: list[Annotated[str, Field(pattern=r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._/-]+)?$")]] = Field(
        default_factory=lambda: list(DEFAULT_REGISTRIES)
    )
    """Registry hosts (optionally with a repository prefix) images may come from."""
    kyverno: KyvernoChartSpec = Field(default_factory=KyvernoChartSpec)


def _images(pattern: str) -> dict[str, Any]:
    """A Kyverno validate pattern applying ``pattern`` to every container kind's image."""
    return {
        "spec": {
            "containers": [{"image": pattern}],
            "=(initContainers)": [{"image": pattern}],
            "=(ephemeralContainers)": [{"image": pattern}],
        }
    }


def kyverno_values(chart_version: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        "global": {
            "nodeSelector": {"kubernetes.azure.com/mode": "system"},
            "tolerations": [{"key": SYSTEM_TAINT.key, "operator": "Exists", "effect": SYSTEM_TAINT.effect}],
        },
    }
    tag = chart_image_tag("kyverno", chart_version)
    if tag is not None:
        values["admissionController"] = {"container": {"image": {"tag": tag}}}
    return values


def unpinned_namespaces(namespaces: dict[str, list[str]]) -> dict[str, list[str]]:
    """Namespace -> the image ids with no known digest that the blueprint runs there."""
    return {
        ns: sorted(i for i in ids if not IMAGES[i].pinned)
        for ns, ids in sorted(namespaces.items())
        if any(not IMAGES[i].pinned for i in ids)
    }


def cluster_policy(spec: SupplyChainSpec, namespaces: Iterable[str]) -> dict[str, Any]:
    action = spec.admission
    registries = " | ".join(f"{r}/*" for r in spec.allowed_registries)
    match = {"any": [{"resources": {"kinds": ["Pod"], "namespaces": sorted(set(namespaces))}}]}
    signer = K8S_RELEASE_SIGNER
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {
            "name": POLICY_NAME,
            "annotations": {
                "policies.kyverno.io/title": "AI platform supply chain",
                "policies.kyverno.io/description": (
                    "Images only from allowed registries, pinned by digest, signed where the publisher signs."
                ),
            },
        },
        "spec": {
            "background": True,
            "rules": [
                {
                    "name": "allowed-registries",
                    "match": match,
                    "validate": {
                        "failureAction": action,
                        "message": f"images must come from {', '.join(spec.allowed_registries)}",
                        "pattern": _images(registries),
                    },
                },
                {
                    "name": "require-digest",
                    "match": match,
                    "validate": {
                        "failureAction": action,
                        "message": "images must be pinned by digest (image@sha256:...)",
                        "pattern": _images("*@sha256:*"),
                    },
                },
                {
                    "name": "verify-signatures",
                    "match": match,
                    "verifyImages": [
                        {
                            "imageReferences": ["registry.k8s.io/*"],
                            "failureAction": action,
                            "verifyDigest": True,
                            "mutateDigest": False,
                            "required": True,
                            "attestors": [
                                {
                                    "entries": [
                                        {
                                            "keyless": {
                                                "subject": signer.subject,
                                                "issuer": signer.issuer,
                                                "rekor": {"url": REKOR_URL},
                                            }
                                        }
                                    ]
                                }
                            ],
                        }
                    ],
                },
            ],
        },
    }


@dataclass(frozen=True)
class SupplyChainArgs:
    spec: SupplyChainSpec
    provider: pulumi.ProviderResource
    namespaces: dict[str, list[str]] = field(default_factory=dict)
    """Namespace the blueprint runs workloads in -> the image ids it runs there (team namespaces: [])."""


class SupplyChain(pulumi.ComponentResource):
    """One cluster's Kyverno and its supply-chain ClusterPolicy."""

    release: k8s.helm.v3.Release
    policy: k8s.apiextensions.CustomResource | None
    """None when the cluster runs nothing the policy could cover (no team, driver or exporter namespace)."""
    enforced_namespaces: list[str]
    unpinned: dict[str, list[str]]

    def __init__(self, name: str, args: SupplyChainArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:SupplyChain", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        chart = args.spec.kyverno
        self.release = k8s.helm.v3.Release(
            f"{name}-kyverno",
            name="kyverno",
            chart=chart.chart,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
            namespace=KYVERNO_NAMESPACE,
            create_namespace=True,
            values=kyverno_values(chart.version),
            opts=child,
        )
        self.unpinned = unpinned_namespaces(args.namespaces)
        self.enforced_namespaces = sorted(ns for ns in args.namespaces if ns not in self.unpinned)
        # An empty namespaces list would match every namespace (AKS's own included): no policy then.
        self.policy = None
        if self.enforced_namespaces:
            obj = cluster_policy(args.spec, self.enforced_namespaces)
            self.policy = k8s.apiextensions.CustomResource(
                f"{name}-policy",
                api_version=obj["apiVersion"],
                kind=obj["kind"],
                metadata=obj["metadata"],
                spec=obj["spec"],
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.release])),
            )
        self.register_outputs({"enforcedNamespaces": self.enforced_namespaces, "unpinned": self.unpinned})


def supply_chain_summary_lines(spec: SupplyChainSpec, clusters: dict[str, SupplyChain]) -> list[str]:
    """The plan summary's section: every image with its pin, the policy mode and what it covers per cluster."""
    lines = ["Supply chain (images, admission)"]
    for image_id, image in sorted(IMAGES.items()):
        state = "pinned" if image.pinned else "UNPINNED (no published digest found)"
        signed = "; signature required at admission" if image.signer else "; digest only (no documented signer)"
        lines.append(f"  {image_id:<22} {image.ref}  [{state}{signed}]")
    if not spec.enabled:
        lines.append("  admission: off (supplyChain.enabled false)")
        return lines
    for key, component in sorted(clusters.items()):
        covered = ", ".join(component.enforced_namespaces) or "nothing"
        lines.append(f"  {key}: Kyverno {spec.kyverno.version}, {POLICY_NAME} {spec.admission} in {covered}")
        for ns, ids in component.unpinned.items():
            lines.append(f"    {ns}: not covered (runs unpinned {', '.join(ids)}; see images-pinned)")
    return lines
