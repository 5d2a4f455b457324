"""A cluster's shared model-weight cache: checkpoints downloaded once per cluster, mounted read-only by model pods.

``spec.py`` holds ``clusters.<c>.weightCache`` and the names and sizing; ``storage.py`` the Azure side (storage
account without public access or shared keys, private endpoint and DNS, reader and writer identities) that the
cluster builds; ``objects.py`` the Kubernetes objects (Blob CSI volumes and claims, service accounts, fill Jobs)
that model serving registers (components/serving/cache.py).
"""

from __future__ import annotations

from components.weight_cache.objects import (
    CACHE_LABEL,
    CacheLocation,
    FillSpec,
    fill_job,
    fill_job_name,
    model_path,
    namespace,
    namespace_objects,
)
from components.weight_cache.spec import (
    CACHE_NAMESPACE,
    CLAIM_READ,
    FIC_AUDIENCE,
    MAX_FEDERATED_CREDENTIALS,
    MOUNT_PATH,
    READER_SERVICE_ACCOUNT,
    WRITER_SERVICE_ACCOUNT,
    WeightCacheSpec,
    account_name,
    capacity_gib,
    checkpoint_dir,
)
from components.weight_cache.storage import WeightCacheHandle, WeightCacheStorage, WeightCacheStorageArgs

__all__ = [
    "CACHE_LABEL",
    "CACHE_NAMESPACE",
    "CLAIM_READ",
    "FIC_AUDIENCE",
    "MAX_FEDERATED_CREDENTIALS",
    "MOUNT_PATH",
    "READER_SERVICE_ACCOUNT",
    "WRITER_SERVICE_ACCOUNT",
    "CacheLocation",
    "FillSpec",
    "WeightCacheHandle",
    "WeightCacheSpec",
    "WeightCacheStorage",
    "WeightCacheStorageArgs",
    "account_name",
    "capacity_gib",
    "checkpoint_dir",
    "fill_job",
    "fill_job_name",
    "model_path",
    "namespace",
    "namespace_objects",
]
