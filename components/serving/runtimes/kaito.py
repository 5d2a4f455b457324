"""KAITO runtime: a ``kaito.sh/v1beta1`` Workspace (and its inference ConfigMap) per model, on our own GPU pool.

What it builds, per ``models.<name>`` with ``runtime: kaito``: a ConfigMap ``<model>-inference`` holding KAITO's
``inference_config.yaml`` (the vLLM arguments the fit chose: ``max-model-len``, ``max-num-seqs``,
``gpu-memory-utilization``) and a ``Workspace`` naming the KAITO preset, the pool's VM size as ``instanceType``
and a ``labelSelector`` on the pool's active colour; for a preset that downloads gated weights at run time, a
Secret with the Hugging Face token under the key KAITO reads (``HF_TOKEN``). The cluster gets the AKS AI
toolchain operator add-on (``ManagedCluster.aiToolchainOperatorProfile.enabled``), which installs KAITO's CRDs and
controllers; the blueprint never Helm-installs KAITO.

What KAITO does at run time (kaito-project/kaito at v0.6.0, the version the AKS add-on runs: AKS docs "Deploy an
AI model with the AI toolchain operator add-on", "currently supports KAITO version 0.6.0"):

- ``pkg/workspace/controllers/workspace_controller.go`` ``applyWorkspaceResource``: nodes that match
  ``resource.labelSelector``, are Ready and carry ``node.kubernetes.io/instance-type == instanceType`` count
  towards ``resource.count``; only the shortfall is provisioned (NodeClaims through the add-on's gpu-provisioner:
  a new AKS agent pool outside Pulumi). The blueprint therefore places a KAITO model only on a pool whose
  ``minCount`` keeps that many nodes up, so KAITO never provisions; ``preferredNodes`` (node *names*) cannot be
  used because AKS node names are only known at run time.
- The inference pods request ``nvidia.com/gpu`` (all GPUs of the node, ``preset_inferences.go``) and the
  controller checks each node's ``nvidia.com/gpu`` capacity: KAITO needs the **device plugin**. It has no DRA
  support in any release up to v0.12.0 (no ResourceClaim in its API or controllers), so a KAITO model goes on a
  pool group with ``allocation: devicePlugin``; a DRA pool is refused.
- Its pods tolerate ``nvidia.com/gpu`` (Exists) and ``sku=gpu``, not the spot taint: spot pools are refused.
- The validating webhook rejects a Workspace whose ``inference.config`` ConfigMap does not exist yet
  (``inference_config_validation.go``), so the Workspace depends on it; it also checks the preset's GPU count and
  memory against its own SKU table for ``instanceType`` (:data:`KAITO_SKUS`), which :func:`preset_issue` repeats.
- KAITO's own pods carry KAITO's security settings, not the blueprint's (the policy pack sees the Workspace, not
  the pods KAITO creates), and the team's ResourceQuota counts DRA devices only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import yaml

from components.facts import LABEL_COLOUR, LABEL_GROUP
from components.images import IMAGES

KAITO_VERSION = "0.6.0"
API_VERSION = "kaito.sh/v1beta1"
SERVICE_PORT = 80
"""The Workspace's Service port (``pkg/workspace/manifests/manifests.go``: port 80 -> container 5000)."""
TOKEN_KEY = "HF_TOKEN"
"""The Secret key KAITO reads the Hugging Face token from (``preset_inferences.go`` ``SetModelDownloadInfo``)."""
READY_CONDITION = "WorkspaceSucceeded"
"""``api/v1beta1/condition_types.go``: True when the inference service is ready to serve requests."""
POD_TOLERATIONS = [
    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
]
"""What KAITO's inference pods tolerate (``preset_inferences.go``)."""
IMAGE = IMAGES["kaito-preset"].ref
"""Stand-in for the rehearsal's image size: KAITO picks its preset image itself (``presets/workspace/models/
supported_models.yaml``); its size is an estimate in components/serving/timing.py."""


@dataclass(frozen=True)
class Preset:
    """A KAITO v0.6.0 preset: its name and the GPU needs its webhook checks (presets/workspace/models/*/model.go)."""

    name: str
    gpu_count: int
    total_gib: float
    per_gpu_gib: float
    download_at_runtime: bool
    """Weights come from Hugging Face at pod start (gated: needs a token); otherwise from KAITO's MCR image."""
    source: str


PRESETS: dict[str, Preset] = {
    # catalog key -> KAITO preset (supported_models.yaml at v0.6.0 lists the names; model.go the requirements).
    "llama-3.1-8b-instruct": Preset(
        "llama-3.1-8b-instruct", 1, 22, 0, True, "presets/workspace/models/llama3/model.go"
    ),
    "llama-3.3-70b-instruct": Preset(
        "llama-3.3-70b-instruct", 4, 320, 80, True, "presets/workspace/models/llama3/model.go"
    ),
    "mistral-7b-instruct-v0.3": Preset(
        "mistral-7b-instruct", 1, 16, 16, False, "presets/workspace/models/mistral/model.go (Mistral-7B-Instruct-v0.3)"
    ),
    "phi-3-mini-4k-instruct": Preset(
        "phi-3-mini-4k-instruct", 1, 9, 0, False, "presets/workspace/models/phi3/model.go"
    ),
}
"""Catalog models KAITO has a preset for. Qwen2.5-7B/72B, Mixtral and Gemma have none at v0.6.0 (KAITO's qwen
presets are the Coder models): those need runtime vllm or kuberay."""

KAITO_SKUS: dict[str, tuple[int, int]] = {
    # VM size -> (GPUs, total GPU memory GB) from KAITO v0.6.0 pkg/sku/azure_sku_handler.go (its webhook's table).
    "Standard_NC4as_T4_v3": (1, 16),
    "Standard_NC8as_T4_v3": (1, 16),
    "Standard_NC16as_T4_v3": (1, 16),
    "Standard_NC64as_T4_v3": (4, 64),
    "Standard_NV36ads_A10_v5": (1, 24),
    "Standard_NV72ads_A10_v5": (2, 48),
    "Standard_NC24ads_A100_v4": (1, 80),
    "Standard_NC48ads_A100_v4": (2, 160),
    "Standard_NC96ads_A100_v4": (4, 320),
    "Standard_ND96asr_A100_v4": (8, 320),
    "Standard_ND96amsr_A100_v4": (8, 640),
    "Standard_NC40ads_H100_v5": (1, 94),
    "Standard_NC80adis_H100_v5": (2, 188),
    "Standard_ND96isr_H100_v5": (8, 640),
    "Standard_ND96isr_H200_v5": (8, 1128),
}


def preset_issue(model: str, vm_size: str) -> str:
    """Why KAITO's webhook would refuse ``model`` on one ``vm_size`` node ("" when it accepts it)."""
    preset = PRESETS[model]
    known = KAITO_SKUS.get(vm_size)
    if known is None:
        return f"KAITO {KAITO_VERSION} does not know {vm_size} (its webhook sizes presets from its own SKU table)"
    gpus, memory = known
    if gpus < preset.gpu_count:
        return f"preset {preset.name} needs {preset.gpu_count} GPUs per node, {vm_size} has {gpus}"
    if memory / gpus < preset.per_gpu_gib:
        return f"preset {preset.name} needs {preset.per_gpu_gib:g} GiB per GPU, {vm_size} has {memory / gpus:g}"
    if memory < preset.total_gib:
        return f"preset {preset.name} needs {preset.total_gib:g} GiB of GPU memory, {vm_size} has {memory}"
    return ""


IMMUTABLE_FIELDS = ["resource", "inference.preset"]
"""What KAITO's webhook refuses to change on a Workspace (``validateUpdate`` in workspace_validation.go: count,
instanceType, labelSelector, preset): a change replaces it, deleting the old one first (same name, same Service)."""


def config_map_name(model: str, config: str) -> str:
    """``<model>-inference-<hash>``: a new engine configuration is a new ConfigMap, so the Workspace's
    ``inference.config`` changes and KAITO rolls its pods (it does not watch the ConfigMap's contents)."""
    return f"{model}-inference-{hashlib.sha256(config.encode()).hexdigest()[:8]}"


def token_secret_name(key: str) -> str:
    return f"kaito-hf-token-{key.lower()}"


def inference_config(context_length: int, concurrency: int, utilisation: float) -> str:
    """KAITO's ``inference_config.yaml``: the vLLM engine arguments (strings, as its webhook reads them)."""
    document: dict[str, Any] = {
        "vllm": {
            "max-model-len": str(context_length),
            "max-num-seqs": str(concurrency),
            "gpu-memory-utilization": f"{utilisation:.2f}",
        }
    }
    return yaml.safe_dump(document, sort_keys=True)


def config_map(
    name: str, namespace: str, labels: dict[str, str], context_length: int, concurrency: int, utilisation: float
) -> dict[str, Any]:
    config = inference_config(context_length, concurrency, utilisation)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": config_map_name(name, config), "namespace": namespace, "labels": labels},
        "data": {"inference_config.yaml": config},
    }


def workspace(
    name: str,
    namespace: str,
    labels: dict[str, str],
    model: str,
    vm_size: str,
    pool_id: str,
    colour: str,
    nodes: int,
    token_key: str | None,
    config: str,
) -> dict[str, Any]:
    """The Workspace: ``resource.count`` nodes of ``vm_size`` selected by the pool's labels (no provisioning while
    that many Ready nodes exist), the preset, its config ConfigMap (``config``: its name), and the token Secret for
    run-time downloads."""
    preset = PRESETS[model]
    options: dict[str, Any] = {}
    if preset.download_at_runtime and token_key:
        options = {"presetOptions": {"modelAccessSecret": token_secret_name(token_key)}}
    return {
        "apiVersion": API_VERSION,
        "kind": "Workspace",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            # Pulumi awaits the Workspace until KAITO reports it serving (pulumi-kubernetes pulumi.com/waitFor).
            "annotations": {"pulumi.com/waitFor": f"condition={READY_CONDITION}"},
        },
        "resource": {
            "count": nodes,
            "instanceType": vm_size,
            "labelSelector": {"matchLabels": {LABEL_GROUP: pool_id, LABEL_COLOUR: colour}},
        },
        "inference": {"preset": {"name": preset.name, **options}, "config": config},
    }


def pod_view(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod KAITO creates for a Workspace, as far as scheduling goes (for the deploy rehearsal)."""
    resource = obj.get("resource") or {}
    vm_size = str(resource.get("instanceType") or "")
    gpus = KAITO_SKUS.get(vm_size, (1, 0))[0]
    return {
        "nodeSelector": dict((resource.get("labelSelector") or {}).get("matchLabels") or {}),
        "tolerations": [dict(t) for t in POD_TOLERATIONS],
        "containers": [{"name": "inference", "image": IMAGE, "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}],
    }
