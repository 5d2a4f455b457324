"""``clusters.<c>.weightCache``: the cluster's shared model-weight cache (settings, names, sizing).

The cache is one Azure Blob container per cluster, behind a private endpoint, mounted by the AKS-managed Azure
Blob CSI driver (BlobFuse2) with workload-identity tokens: a fill Job per checkpoint writes it once, model pods
mount it read-only. docs/model-serving.md ("Shared weight cache") says why Blob and not Elastic SAN.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from components._common import Spec, azure_name

CACHE_NAMESPACE = "ai-platform-weights"
"""Fill Jobs, the writer's service account and volume, and copies of the Hugging Face token Secrets."""
CONTAINER = "weights"
"""The blob container holding every cached checkpoint of the cluster (one directory per repository)."""
MOUNT_PATH = "/weights"
"""Where fill Jobs and model pods mount the cache."""
READER_SERVICE_ACCOUNT = "weight-cache-reader"
"""Model pods' service account: its token mounts the cache read-only (Storage Blob Data Reader)."""
WRITER_SERVICE_ACCOUNT = "weight-cache-fill"
"""Fill Jobs' service account: its token mounts the cache read-write (Storage Blob Data Contributor)."""
CLAIM_READ = "weight-cache"
CLAIM_WRITE = "weight-cache-fill"
CSI_DRIVER = "blob.csi.azure.com"
FIC_AUDIENCE = "api://AzureADTokenExchange"
"""The audience of workload-identity federated credentials
(learn.microsoft.com/azure/aks/workload-identity-overview)."""
MAX_FEDERATED_CREDENTIALS = 20
"""Azure allows at most 20 federated identity credentials per user-assigned identity
(learn.microsoft.com/entra/workload-id/workload-identity-federation-considerations)."""
MIN_CAPACITY_GIB = 1

Sku = Literal["Premium_LRS", "Premium_ZRS", "Standard_LRS", "Standard_ZRS"]


class WeightCacheSpec(Spec):
    """Off by default (a new child resource arrives switched off); prod switches it on in its stack file."""

    enabled: bool = False
    sku: Sku = "Premium_LRS"
    """Premium_* are BlockBlobStorage accounts (lower latency for the many reads of a load); Standard_* StorageV2.
    LRS is enough: the cache is refilled from Hugging Face if it is lost."""


def account_name(name_prefix: str, environment: str, cluster: str) -> str:
    """The storage account's name: 3-24 lowercase letters and digits, globally unique (``namePrefix``)."""
    return azure_name("st", name_prefix, environment, cluster, "wc", max_len=24, allow_hyphen=False)


def account_kind(sku: str) -> str:
    return "BlockBlobStorage" if sku.startswith("Premium") else "StorageV2"


_DIR_CLEAN = re.compile(r"[^A-Za-z0-9._-]+")


def checkpoint_dir(repo: str) -> str:
    """The checkpoint's directory in the container: ``org--name`` (the Hub cache's own separator)."""
    return _DIR_CLEAN.sub("-", repo.replace("/", "--"))


def capacity_gib(checkpoint_gib: list[float]) -> int:
    """The PersistentVolumes' capacity: every cached checkpoint plus 10% for tokenizer, configs and metadata.

    Blob containers have no quota, so Kubernetes only records this; it is what the cache holds once filled.
    """
    return max(MIN_CAPACITY_GIB, math.ceil(sum(checkpoint_gib) * 1.1))
