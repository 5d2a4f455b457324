"""Every container image the blueprint runs, pinned by digest in one place (shared layer: no behaviour).

The model servers, the charts' images (set through the image keys each chart documents, so the digest is what
runs) and the admission controller. A digest is recorded only with the public source it was read from; an image
whose digest could not be found from a source has ``digest=None``: the chart runs it by tag, and the policy pack
(``images-pinned``) and the plan name it as unpinned, so the gap is visible instead of hidden. Before a release,
check each digest with ``crane digest <image>:<tag>`` (or ``docker buildx imagetools inspect``).

``signer`` is the keyless (Sigstore) identity that signs the image, where the publisher documents one; the
admission policy verifies those signatures (components/supply_chain.py). Images without a documented signer are
admitted by their pinned digest alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


@dataclass(frozen=True)
class Signer:
    """A keyless signature identity: the certificate subject and the OIDC issuer that vouched for it."""

    subject: str
    issuer: str
    source: str


@dataclass(frozen=True)
class Image:
    registry: str
    repository: str
    tag: str
    digest: str | None
    source: str
    """Where the digest (or the absence of one) comes from."""
    signer: Signer | None = None

    def __post_init__(self) -> None:
        if self.digest is not None and not DIGEST.match(self.digest):
            raise ValueError(f"{self.repository}: {self.digest!r} is not a sha256 digest")

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def pinned(self) -> bool:
        return self.digest is not None

    @property
    def ref(self) -> str:
        """``registry/repository:tag@sha256:...`` (or ``...:tag`` when no digest is known)."""
        return f"{self.name}:{self.tag}" + (f"@{self.digest}" if self.digest else "")

    @property
    def tag_with_digest(self) -> str:
        """The value for a chart's ``image.tag`` key that renders ``repository:tag@digest``."""
        return self.tag + (f"@{self.digest}" if self.digest else "")


K8S_RELEASE_SIGNER = Signer(
    "krel-trust@k8s-releng-prod.iam.gserviceaccount.com",
    "https://accounts.google.com",
    "kubernetes.io/docs/tasks/administer-cluster/verify-signed-artifacts (images on registry.k8s.io are signed "
    "keyless by the image promoter)",
)

IMAGES: dict[str, Image] = {
    "vllm": Image(
        "docker.io",
        "vllm/vllm-openai",
        "v0.12.0",
        "sha256:6766ce0c459e24b76f3e9ba14ffc0442131ef4248c904efdcbf0d89e38be01fe",
        "a public validation record that pulled the official image (`docker pull vllm/vllm-openai:v0.12.0` "
        "resolved to this digest; found through the code search index, record id 67382192867)",
    ),
    "nvidia-dra-driver": Image(
        "registry.k8s.io",
        "dra-driver-nvidia/dra-driver-nvidia-gpu",
        "v0.4.0",
        "sha256:dd17d49170f62071d13ef5de9b8f0ff26c66793f9d802c34532c0cb4f8a1d1f3",
        "kubernetes/k8s.io registry.k8s.io/images/k8s-staging-dra-driver-nvidia/images.yaml (the promoter's "
        "digest -> tag map, commit 1a15ab54855f), image dra-driver-nvidia-gpu tag v0.4.0",
        K8S_RELEASE_SIGNER,
    ),
    "nvidia-device-plugin": Image(
        "nvcr.io",
        "nvidia/k8s-device-plugin",
        "v0.17.1",
        "sha256:af31e2b7c7f89834c4e5219860def7ac2e49a207b3d4e8610d5a26772b7738e5",
        "a public image lock file pinning nvcr.io/nvidia/k8s-device-plugin:v0.17.1 (code search index record "
        "69631182245); NVIDIA publishes no digest list for NGC",
    ),
    "azure-cli": Image(
        "mcr.microsoft.com",
        "azure-cli",
        "2.67.0",
        "sha256:6d7791e595999664478813ee6da9b340dc087be87cce9f581ded83cc4bf15ca0",
        "public backup scripts pinning mcr.microsoft.com/azure-cli:2.67.0 by digest (code search index records "
        "68918085918, 69190462648); Microsoft publishes no digest list for MCR tags",
    ),
    "dcgm-exporter": Image(
        "nvcr.io",
        "nvidia/k8s/dcgm-exporter",
        "4.6.0-4.8.3-distroless",
        None,
        "no public source of this tag's digest was found (NGC lists none; the only digest seen was of a private "
        "mirror's copy): unpinned until someone records it with `crane digest`",
    ),
    "kyverno": Image(
        "reg.kyverno.io",
        "kyverno/kyverno",
        "v1.15.2",
        None,
        "Kyverno signs its images (keyless, GitHub Actions) but no published digest of v1.15.2 was found: unpinned",
    ),
    "ray-llm": Image(
        "docker.io",
        "rayproject/ray-llm",
        "2.52.0-py311-cu128",
        None,
        "the image of KubeRay v1.7.0's Ray Serve LLM sample (ray-operator/config/samples/ray-service.llm-serve.yaml); "
        "no published digest of this tag was found: unpinned",
    ),
    "kaito-preset": Image(
        "mcr.microsoft.com",
        "aks/kaito/kaito-base",
        "0.0.8",
        None,
        "KAITO's controller chooses each preset's image itself (presets/workspace/models/supported_models.yaml of "
        "KAITO 0.6.0); a Workspace takes no image for a preset, so the blueprint cannot pin it: unpinned",
    ),
}
"""Image id -> the pinned image. Chart versions these tags belong to are in CHART_IMAGES."""

CHART_IMAGES: dict[str, tuple[str, str, str]] = {
    # chart name -> (chart version the tag belongs to, image id, the chart's documented values key of the tag)
    "dra-driver-nvidia-gpu": ("0.4.0", "nvidia-dra-driver", "image.tag"),
    "nvidia-device-plugin": ("0.17.1", "nvidia-device-plugin", "image.tag"),
    "dcgm-exporter": ("4.8.3", "dcgm-exporter", "image.tag"),
    "kyverno": ("3.5.2", "kyverno", "admissionController.container.image.tag"),
}
"""Which image each chart runs at the pinned chart version, and the values key that selects its tag. The DRA
driver chart renders ``repository:tag`` (templates/_helpers.tpl ``fullimage``), so ``tag@digest`` pins it."""


def chart_image_tag(chart: str, version: str) -> str | None:
    """The ``tag@digest`` a chart's image key should get at ``version``; None when unknown or unpinned."""
    entry = CHART_IMAGES.get(chart)
    if entry is None or entry[0] != version:
        return None
    image = IMAGES[entry[1]]
    return image.tag_with_digest if image.pinned else None
