"""The Kubernetes objects of a cluster's weight cache, as pure functions of plain inputs.

A ``ServiceAccount`` and a static ``PersistentVolume`` of the Azure Blob CSI driver (``blob.csi.azure.com``,
BlobFuse2) pre-bound to its ``PersistentVolumeClaim``:

- in every team namespace that serves cached models, ``weight-cache`` (``ReadOnlyMany``, ``csi.readOnly``,
  BlobFuse2 ``--read-only=true`` and ``--block-cache`` streaming) with the reader's service account: what
  model pods mount read-only;
- in the cache namespace ``ai-platform-weights`` only, ``weight-cache-fill`` (``ReadWriteMany``, BlobFuse2's
  default file cache) with the writer's service account: what fill Jobs write through. Teams get no writer.

Both authenticate with the pod's service-account token ("workload identity, token-only mount":
``clientID`` + ``mountWithWorkloadIdentityToken: "true"``, blob-csi-driver >= v1.27.0, docs/workload-identity-
static-pv-mount.md and docs/driver-parameters.md of kubernetes-sigs/blob-csi-driver; AKS 1.34 ships v1.27.9, Azure/AKS
release 2026-08-07). No account key exists (the account refuses shared keys) and no Secret is involved. The driver
documents ``mountWithWorkloadIdentityToken`` as preview.

Per checkpoint (once per cluster): a fill ``Job`` that downloads the repository with ``huggingface_hub``'s
``snapshot_download`` (in the model server's image, so the node pulls one image for both) into
``/weights/<org>--<name>`` and writes a marker when complete. It is idempotent: a finished checkpoint exits at
once, an interrupted one resumes (``snapshot_download`` skips files already complete in ``local_dir``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.facts import LABEL_PREFIX
from components.weight_cache.spec import (
    CACHE_NAMESPACE,
    CLAIM_READ,
    CLAIM_WRITE,
    CSI_DRIVER,
    MIN_CAPACITY_GIB,
    MOUNT_PATH,
    READER_SERVICE_ACCOUNT,
    WRITER_SERVICE_ACCOUNT,
    checkpoint_dir,
)

CACHE_LABEL = f"{LABEL_PREFIX}/weight-cache"
"""``fill`` on fill Jobs and their pods, ``reader``/``writer`` on the volumes: what the rehearsal recognises."""
MARKER = ".ai-platform-complete"
RUN_AS = 1000
FILL_WORKERS = 4
"""Parallel file downloads per fill: BlobFuse2's file cache keeps each open file on the node's disk until it is
uploaded on close, so four ~5 GB safetensors shards at a time need ~20 GB there."""

READ_MOUNT_OPTIONS = [
    "-o allow_other",  # pods run as uid 1000; the driver mounts as root
    "--read-only=true",  # blobfuse2 mount flag (Azure/azure-storage-fuse cmd/mount.go)
    "--block-cache",  # streaming: shards are read in blocks as vLLM loads them, nothing lands on the node disk
    "--cancel-list-on-mount-seconds=10",  # the driver's own example: no listing (billed) at mount
    "--log-level=LOG_WARNING",
]
WRITE_MOUNT_OPTIONS = [
    "-o allow_other",
    "--file-cache-timeout-in-seconds=120",
    "--cancel-list-on-mount-seconds=10",
    "--log-level=LOG_WARNING",
]

FILL_SCRIPT = """\
import os, pathlib
from huggingface_hub import snapshot_download
target = pathlib.Path(os.environ["TARGET"])
marker = target / os.environ["MARKER"]
if marker.exists():
    print(f"{os.environ['REPO']}: already cached in {target}")
    raise SystemExit(0)
target.mkdir(parents=True, exist_ok=True)
snapshot_download(repo_id=os.environ["REPO"], local_dir=str(target), max_workers=int(os.environ["WORKERS"]))
marker.write_text(os.environ["REPO"] + "\\n")
print(f"{os.environ['REPO']}: cached in {target}")
"""
"""The fill: ``snapshot_download`` reads ``HF_TOKEN`` from the environment (gated repositories)."""


@dataclass(frozen=True)
class CacheLocation:
    """Where the cache lives and who may mount it (from :class:`WeightCacheHandle`)."""

    resource_group: str
    account: str
    container: str
    reader_client_id: pulumi.Input[str]
    writer_client_id: pulumi.Input[str]


@dataclass(frozen=True)
class FillSpec:
    """One checkpoint to cache, and where its fill Job runs."""

    repo: str
    namespace: str
    image: str
    gib: float
    node_selector: dict[str, str]
    tolerations: list[dict[str, str]]
    token_secret: str | None = None
    """A Secret (key ``token``) with the Hugging Face token, for gated or private repositories."""
    owners: list[str] = field(default_factory=list)
    """The model deployments served from it."""


def _labels(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "weight-cache",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def model_path(repo: str) -> str:
    """Where a model pod finds the checkpoint (vLLM ``--model``)."""
    return f"{MOUNT_PATH}/{checkpoint_dir(repo)}"


def pv_name(namespace: str, writable: bool) -> str:
    return f"weight-cache-{namespace}-{'rw' if writable else 'ro'}"


def service_account(namespace: str, writable: bool, client_id: pulumi.Input[str]) -> dict[str, Any]:
    """The identity's service account. Workload identity reads ``azure.workload.identity/client-id``; the pod
    never sees a token (``automountServiceAccountToken: false``): kubelet hands it to the CSI driver."""
    role = "writer" if writable else "reader"
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": WRITER_SERVICE_ACCOUNT if writable else READER_SERVICE_ACCOUNT,
            "namespace": namespace,
            "labels": {**_labels(role), CACHE_LABEL: role},
            "annotations": {"azure.workload.identity/client-id": client_id},
        },
        "automountServiceAccountToken": False,
    }


def persistent_volume(where: CacheLocation, namespace: str, writable: bool, capacity_gib: int) -> dict[str, Any]:
    """A static Blob CSI volume for one namespace, pre-bound (``claimRef``) to its claim so no other binds it."""
    role = "writer" if writable else "reader"
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": pv_name(namespace, writable), "labels": {**_labels(role), CACHE_LABEL: role}},
        "spec": {
            "capacity": {"storage": f"{capacity_gib}Gi"},
            "accessModes": ["ReadWriteMany" if writable else "ReadOnlyMany"],
            # Deleting the claim never deletes the checkpoints (static volume; the container outlives it).
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "claimRef": {"namespace": namespace, "name": CLAIM_WRITE if writable else CLAIM_READ},
            "mountOptions": list(WRITE_MOUNT_OPTIONS if writable else READ_MOUNT_OPTIONS),
            "csi": {
                "driver": CSI_DRIVER,
                "volumeHandle": volume_handle(where, namespace, writable),
                "readOnly": not writable,
                "volumeAttributes": {
                    "protocol": "fuse2",
                    "resourceGroup": where.resource_group,
                    "storageAccount": where.account,
                    "containerName": where.container,
                    "clientID": where.writer_client_id if writable else where.reader_client_id,
                    "mountWithWorkloadIdentityToken": "true",
                },
            },
        },
    }


def volume_handle(where: CacheLocation, namespace: str, writable: bool) -> str:
    """Unique per PV in the cluster, as the driver requires: its VolumeID format ``rg#accountName#containerName#uuid``
    with ``<namespace>-<ro|rw>`` as the last part."""
    return f"{where.resource_group}#{where.account}#{where.container}#{namespace}-{'rw' if writable else 'ro'}"


def persistent_volume_claim(namespace: str, writable: bool) -> dict[str, Any]:
    role = "writer" if writable else "reader"
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": CLAIM_WRITE if writable else CLAIM_READ,
            "namespace": namespace,
            "labels": {**_labels(role), CACHE_LABEL: role},
        },
        "spec": {
            "accessModes": ["ReadWriteMany" if writable else "ReadOnlyMany"],
            "storageClassName": "",
            "volumeName": pv_name(namespace, writable),
            # Fixed, not the cache's size: a statically bound claim cannot be resized (only dynamically provisioned
            # claims of an expandable class can), so a claim that grew with each new checkpoint would fail its
            # update. The volume's capacity (mutable) records the size; any capacity >= 1Gi binds.
            "resources": {"requests": {"storage": f"{MIN_CAPACITY_GIB}Gi"}},
        },
    }


def fill_job_name(repo: str) -> str:
    """``fill-<dir>``, at most 52 characters (the Job controller adds a suffix and labels pods with the name)."""
    slug = checkpoint_dir(repo).lower().replace(".", "-").replace("_", "-")
    name = f"fill-{slug}"
    if len(name) > 52:
        name = f"{name[:45].rstrip('-')}-{hashlib.sha256(repo.encode()).hexdigest()[:6]}"
    return name.strip("-")


def fill_job(fill: FillSpec) -> dict[str, Any]:
    """The Job that caches ``fill.repo``; Pulumi awaits its completion (pulumi-kubernetes Job await)."""
    labels = {**_labels("fill"), CACHE_LABEL: "fill"}
    env: list[dict[str, Any]] = [
        {"name": "REPO", "value": fill.repo},
        {"name": "TARGET", "value": model_path(fill.repo)},
        {"name": "MARKER", "value": MARKER},
        {"name": "WORKERS", "value": str(FILL_WORKERS)},
        {"name": "HOME", "value": "/tmp/home"},
        {"name": "HF_HOME", "value": "/tmp/hf"},
        {"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"},
    ]
    if fill.token_secret:
        env.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": fill.token_secret, "key": "token"}}})
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": fill_job_name(fill.repo),
            "namespace": fill.namespace,
            "labels": labels,
            "annotations": {f"{LABEL_PREFIX}/checkpoint": fill.repo},
        },
        "spec": {
            # Retries (Hub or network errors) resume where the last attempt stopped.
            "backoffLimit": 6,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": WRITER_SERVICE_ACCOUNT,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "restartPolicy": "OnFailure",
                    # On the node pool its models run on: the node it scales up is the one they start on.
                    "nodeSelector": dict(fill.node_selector),
                    "tolerations": [dict(t) for t in fill.tolerations],
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": RUN_AS,
                        "runAsGroup": RUN_AS,
                        "fsGroup": RUN_AS,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "fill",
                            "image": fill.image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["python3", "-c", FILL_SCRIPT],
                            "env": env,
                            "resources": {
                                "requests": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "2Gi"},
                                "limits": {"memory": "8Gi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "privileged": False,
                                "readOnlyRootFilesystem": True,
                                "runAsNonRoot": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [
                                {"name": "weights", "mountPath": MOUNT_PATH},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "weights", "persistentVolumeClaim": {"claimName": CLAIM_WRITE}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}},
                    ],
                },
            },
        },
    }


def namespace(labels: dict[str, str] | None = None) -> dict[str, Any]:
    """The cache namespace: fill Jobs, the writer's service account and volume, and copies of the HF tokens."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        # Fill Jobs meet the "restricted" Pod Security Standard (non-root, no privilege escalation, all capabilities
        # dropped, RuntimeDefault seccomp): the namespace enforces it.
        "metadata": {
            "name": CACHE_NAMESPACE,
            "labels": {**_labels("fill"), "pod-security.kubernetes.io/enforce": "restricted", **(labels or {})},
        },
    }


def namespace_objects(where: CacheLocation, namespace: str, capacity_gib: int) -> list[dict[str, Any]]:
    """A namespace's service account, volume and claim: the writer's in the cache namespace, the reader's in
    every team namespace that serves cached models."""
    writable = namespace == CACHE_NAMESPACE
    client_id = where.writer_client_id if writable else where.reader_client_id
    return [
        service_account(namespace, writable, client_id),
        persistent_volume(where, namespace, writable, capacity_gib),
        persistent_volume_claim(namespace, writable),
    ]
