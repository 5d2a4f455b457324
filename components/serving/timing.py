"""How long a model server takes to become Ready, and how much node disk its weights take: the one figure table.

A model Deployment is awaited by pulumi-kubernetes until its pods are Ready (10 minutes unless told
otherwise). After the program creates it, each pod waits for a node (the cluster autoscaler adds one to a
pool at ``minCount: 0``), for the DRA kubelet plugin on that node, then pulls and unpacks the vLLM image,
downloads the checkpoint from Hugging Face into its ``emptyDir`` and loads it into GPU memory.
:func:`ready_minutes` adds those steps at the rates below; :func:`await_timeouts` turns them into the
Deployment's ``custom_timeouts``. :data:`CHECKPOINT_BYTES` and the disk figures size the weight volume.

Every figure carries its source: a document or issue, or "estimate"/"assumption" with the reasoning. The
deploy rehearsal (``stacks/critical_path.py``) reads the same table, so the plan's timing and the timeouts
it checks come from one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    """A duration, rate or size with where it comes from."""

    value: float
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source}


RATES: dict[str, Figure] = {
    # Run-time steps of a GPU workload after the program has created it.
    "nodeFromZeroMinutes": Figure(
        6.0, "estimate: cluster-autoscaler scale-up of a pool at 0 nodes (VM create + GPU driver), like a pool"
    ),
    "draPluginMinutes": Figure(1.0, "estimate: the DRA kubelet plugin pod starting on a new GPU node"),
    "imagePullMiBps": Figure(100.0, "assumption: registry CDN pull to one Azure node (Docker Hub, ~800 Mbit/s)"),
    "imageUnpackMiBps": Figure(200.0, "estimate: containerd layer extraction to a managed OS disk"),
    "weightDownloadMiBps": Figure(
        200.0,
        "assumption: Hugging Face Hub (CDN/Xet) to one Azure node in Europe, ~1.7 Gbit/s; the VM NICs allow "
        "8-80 Gbit/s (Azure GPU size pages), so the Hub side is the limit",
    ),
    "weightLoadMiBps": Figure(
        500.0,
        "estimate: safetensors read from the node's managed OS disk into GPU memory; a 256 GB Premium SSD "
        "sustains ~200 MB/s uncached, the page cache of the just-downloaded files the rest",
    ),
    "defaultImageGiB": Figure(1.0, "estimate: an image the table does not know"),
    "cacheReadMiBps": Figure(
        400.0,
        "estimate: BlobFuse2 block-cache streaming read of safetensors shards over the private endpoint into GPU "
        "memory; the storage account's egress (tens of Gbit/s) and the GPU VMs' NICs (8-80 Gbit/s) allow more, the "
        "FUSE path is the limit",
    ),
}
RUNTIME_START_MINUTES: dict[str, Figure] = {
    # What a runtime adds between its object's create and the model server starting to load (runtime vllm: 0).
    "kaito": Figure(
        2.0,
        "estimate: the AKS add-on's KAITO controller reconciles the Workspace (node check, Deployment) and its "
        "model puller/preset image starts; the add-on itself is on once the ManagedCluster is",
    ),
    "kuberay": Figure(
        3.0,
        "estimate: the KubeRay operator creates the RayCluster, the Ray head starts, the workers join it and Ray "
        "Serve deploys the application (placement group across the pipeline stages) before vLLM loads",
    ),
}

IMAGE_GIB: dict[str, tuple[Figure, Figure]] = {
    # repository -> (compressed, unpacked) GiB
    "vllm/vllm-openai": (
        Figure(12.6, "vllm-project/vllm#27154: `docker pull vllm/vllm-openai` about 12.6 GB"),
        Figure(28.6, "vllm-project/vllm#22377: vllm-openai image 28.6 GB unpacked"),
    ),
    "rayproject/ray-llm": (
        Figure(14.0, "estimate: Ray 2.52 + vLLM + CUDA 12.8 runtime, the vllm-openai image's layers plus Ray's"),
        Figure(32.0, "estimate: as vllm-openai unpacked (28.6 GB) plus Ray and its dependencies"),
    ),
    "mcr.microsoft.com/aks/kaito/kaito-base": (
        Figure(10.0, "estimate: KAITO's preset image (vLLM and transformers runtimes, CUDA); weights come separately"),
        Figure(24.0, "estimate: unpacked, as a vLLM/CUDA image"),
    ),
}
AWAIT_MARGIN = Figure(1.5, "assumption: 50% over the estimate (slow Hub mirror, a node image pull, retries)")
AWAIT_SLACK_MINUTES = Figure(10.0, "assumption: fixed slack for scheduling, probes and a container restart")
AWAIT_ROUND_MINUTES = 5

CHECKPOINT_BYTES: dict[str, Figure] = {
    # Bytes per parameter of a checkpoint *on disk* in its stored precision (what is downloaded).
    "bf16": Figure(2.0, "torch_dtype bfloat16: 2 bytes per parameter"),
    "fp16": Figure(2.0, "torch_dtype float16: 2 bytes per parameter"),
    "fp8": Figure(
        1.15,
        "RedHatAI/Meta-Llama-3-8B-Instruct-FP8 file listing: 5 GB + 4.08 GB for 8.03 B parameters = 1.13 "
        "(embeddings, lm_head and norms stay 16-bit)",
    ),
    "int8": Figure(1.15, "as fp8: 8-bit linear layers, 16-bit embeddings and lm_head"),
    "int4": Figure(
        0.75,
        "estimate: AWQ/GPTQ group-128 weights are 4.25 bits (0.53 bytes) plus 16-bit embeddings and lm_head "
        "(Qwen2.5-7B: 1.09 B of 7.62 B parameters) = 0.74",
    ),
}
CHECKPOINT_MARGIN = Figure(1.1, "assumption: 10% for tokenizer, configs and the Hub cache's metadata")
CHECKPOINT_SLACK_GIB = Figure(2.0, "assumption: fixed 2 GiB for small files and partial downloads")
NODEFS_EVICTION = Figure(
    0.10,
    "AKS kubelet default eviction-hard nodefs.available<10% (learn.microsoft.com/azure/aks/node-resource-reservations)",
)
OS_RESERVED_GIB = Figure(12.0, "estimate: AKS Ubuntu node image, logs and system pods' images on the OS disk")
TMP_GIB = 20
"""The server's ``/tmp`` emptyDir (compile caches)."""


def image_gib(image: str) -> tuple[float, float]:
    """(compressed, unpacked) GiB of an image, by repository; unknown images at ``defaultImageGiB``."""
    repository = image.split("@", 1)[0].rsplit(":", 1)[0] if "/" in image else image.split(":", 1)[0]
    repository = repository.removeprefix("docker.io/")  # Docker Hub's explicit name is the same repository
    known = IMAGE_GIB.get(repository)
    if known:
        return known[0].value, known[1].value
    return (RATES["defaultImageGiB"].value,) * 2


def image_minutes(image: str) -> float:
    compressed, unpacked = image_gib(image)
    return (compressed * 1024 / RATES["imagePullMiBps"].value + unpacked * 1024 / RATES["imageUnpackMiBps"].value) / 60


def checkpoint_gib(parameters_billions: float, precision: str) -> float:
    """GiB downloaded: parameters x the checkpoint's stored bytes per parameter (not the serving precision)."""
    return parameters_billions * 1e9 * CHECKPOINT_BYTES[precision].value / 1024**3


def weight_volume_gib(download_gib: float) -> int:
    """``sizeLimit`` of the weight ``emptyDir``: the download plus margin, whole GiB."""
    return math.ceil(download_gib * CHECKPOINT_MARGIN.value + CHECKPOINT_SLACK_GIB.value)


def node_disk_for_pods_gib(os_disk_size_gb: int, image: str) -> float:
    """What kubelet's filesystem (the OS disk on AKS, ``kubeletDiskType: OS``) leaves for pods' emptyDirs.

    The OS disk size is in GB (10^9 bytes); the kubelet evicts below 10% free; the node image and the
    model server image (compressed layers in containerd's content store and unpacked) live on it too.
    """
    compressed, unpacked = image_gib(image)
    gib = os_disk_size_gb * 1e9 / 1024**3
    return gib * (1 - NODEFS_EVICTION.value) - OS_RESERVED_GIB.value - compressed - unpacked


def ready_minutes(download_gib: float, image: str, cached: bool = False, runtime: str = "vllm") -> dict[str, float]:
    """Minutes per step from the Deployment's (Workspace's, RayService's) create to one pod Ready, the node
    provisioned from zero; other runtimes add their start (:data:`RUNTIME_START_MINUTES`).

    ``cached``: the checkpoint is in the cluster's weight cache (its fill Job ran before the Deployment): no
    download, and the load streams from the cache at ``cacheReadMiBps``."""
    load_rate = RATES["cacheReadMiBps" if cached else "weightLoadMiBps"].value
    steps = {
        "nodeProvisioning": RATES["nodeFromZeroMinutes"].value + RATES["draPluginMinutes"].value,
        "imagePull": image_minutes(image),
        "weightDownload": 0.0 if cached else download_gib * 1024 / RATES["weightDownloadMiBps"].value / 60,
        "weightLoad": download_gib * 1024 / load_rate / 60,
    }
    if runtime in RUNTIME_START_MINUTES:
        steps["runtimeStart"] = RUNTIME_START_MINUTES[runtime].value
    return steps


def fill_minutes(download_gib: float, image: str) -> dict[str, float]:
    """Minutes per step of a weight-cache fill Job: a node from zero (no GPU claimed, no DRA plugin to wait for),
    the image pull, the download into the cache."""
    return {
        "nodeProvisioning": RATES["nodeFromZeroMinutes"].value,
        "imagePull": image_minutes(image),
        "weightDownload": download_gib * 1024 / RATES["weightDownloadMiBps"].value / 60,
    }


def fill_timeouts(download_gib: float, image: str) -> dict[str, str]:
    """The fill Job's ``custom_timeouts`` (a changed Job is replaced: update waits as long as create)."""
    minutes = _rounded(sum(fill_minutes(download_gib, image).values()))
    return {"create": f"{minutes}m", "update": f"{minutes}m"}


def await_timeouts(
    download_gib: float, image: str, replicas: int, surge: int, cached: bool = False, runtime: str = "vllm"
) -> dict[str, str]:
    """The Deployment's ``custom_timeouts`` (Go durations): create brings all replicas up at once; an update
    replaces them ``surge`` at a time (0: one at a time, in place), each batch going through the same steps on a
    new node."""
    one = sum(ready_minutes(download_gib, image, cached, runtime).values())
    batches = max(1, math.ceil(replicas / max(1, surge)))
    return {
        "create": f"{_rounded(one)}m",
        "update": f"{_rounded(one * batches)}m",
    }


def _rounded(minutes: float) -> int:
    padded = minutes * AWAIT_MARGIN.value + AWAIT_SLACK_MINUTES.value
    return math.ceil(padded / AWAIT_ROUND_MINUTES) * AWAIT_ROUND_MINUTES


def table_json() -> dict[str, Any]:
    """Every figure above, for the plan document and the README."""
    return {
        "rates": {k: f.to_json() for k, f in RATES.items()},
        "imageGiB": {k: {"compressed": c.to_json(), "unpacked": u.to_json()} for k, (c, u) in IMAGE_GIB.items()},
        "checkpointBytesPerParameter": {k: f.to_json() for k, f in CHECKPOINT_BYTES.items()},
        "awaitMargin": AWAIT_MARGIN.to_json(),
        "awaitSlackMinutes": AWAIT_SLACK_MINUTES.to_json(),
        "nodefsEviction": NODEFS_EVICTION.to_json(),
        "osReservedGiB": OS_RESERVED_GIB.to_json(),
        "runtimeStartMinutes": {k: f.to_json() for k, f in RUNTIME_START_MINUTES.items()},
    }
