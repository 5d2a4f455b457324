"""Configuration of GPU allocation: ``dra`` (driver charts, sharing profiles) and its cross-key checks.

Builds nothing. The cross-key checks of ``dra``, ``teams`` and the clusters' GPU pools are in ``checks.py``.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from components._common import Issue, Spec, raise_issues
from components.gpu_skus import GPU_SKUS, MIG_PROFILES, GpuModel, MigProfile

NIC_DRIVER = "dra.net"
"""DraNet (kubernetes-sigs/dranet) publishes NICs under this driver name, with an ``rdma`` attribute."""
GPU_CONFIG_API_VERSION = "resource.nvidia.com/v1beta1"
PCIE_ROOT = "resource.kubernetes.io/pcieRoot"
CLASS_SUFFIX = "gpu.ai-platform"
NIC_CLASS = "rdma-nic.ai-platform"
DRIVER_CLASSES = {
    "nvidia": ("gpu.nvidia.com", "mig.nvidia.com", "vfio.gpu.nvidia.com"),
    "amd": ("gpu.amd.com",),
}
"""Classes the drivers' own charts create: closed to teams by quota (0), so all GPU use goes through profiles."""
SYSTEM_NODE_SELECTOR = {"kubernetes.azure.com/mode": "system"}
PROFILE_KEY = r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$"

GPU_MODELS: dict[str, GpuModel] = {sku.gpu.name: sku.gpu for sku in GPU_SKUS.values()}
ProfileKind = Literal["whole", "mig", "timeShared", "mps", "gpuNic"]
SHARED_CLAIM_KINDS: tuple[str, ...] = ("timeShared", "mps")
"""Kinds whose pods share one GPU by naming one ResourceClaim (the driver shares the claim's GPU among them)."""
MPS_MAX_CLIENTS = 48
"""NVIDIA MPS on Volta and newer serves at most 48 client CUDA contexts per GPU (NVIDIA MPS documentation,
"Volta MPS": "up to 48 clients")."""


class OciChartSpec(Spec):
    chart: Annotated[str, Field(pattern=r"^oci://")] = (
        "oci://registry.k8s.io/dra-driver-nvidia/charts/dra-driver-nvidia-gpu"
    )
    version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")] = "0.4.0"


class RepoChartSpec(Spec):
    repository: Annotated[str, Field(pattern=r"^https://")] = "https://nvidia.github.io/k8s-device-plugin"
    chart: str = "nvidia-device-plugin"
    version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")] = "0.17.1"


class SharingProfileSpec(Spec):
    """One way of handing out GPUs, e.g. ``{kind: mig, gpuModel: A100-80GB, migProfile: MIG1g}``."""

    kind: ProfileKind
    gpu_model: str
    """A GPU model name from components/gpu_skus.py (``T4``, ``A100-80GB``, ``H100``, ``MI300X`` ...)."""
    mig_profile: MigProfile | None = None
    """``kind: mig`` only: the slice size; offered on pools whose slot has this ``migProfile``."""
    replicas: Annotated[int, Field(ge=2, le=64)] | None = None
    """``kind: timeShared`` / ``mps`` only: pods planned to share one GPU (through one shared ResourceClaim)."""
    interval: Literal["Default", "Short", "Medium", "Long"] = "Default"
    """``kind: timeShared`` only: the driver's time-slice length."""
    active_thread_percentage: Annotated[int, Field(ge=1, le=100)] | None = None
    """``kind: mps`` only: the share of the GPU's SMs each client may use (MPS
    ``defaultActiveThreadPercentage``); default ``100 // replicas``."""
    pinned_memory_gib: Annotated[int, Field(ge=1, le=1024)] | None = None
    """``kind: mps`` only: GPU memory each client may allocate (MPS ``defaultPinnedDeviceMemoryLimit``, in GiB);
    default: the GPU's memory divided by ``replicas``, rounded down."""

    @model_validator(mode="after")
    def _check(self) -> SharingProfileSpec:
        issues: list[Issue] = []
        model = GPU_MODELS.get(self.gpu_model)
        if model is None:
            issues.append(
                Issue(
                    ("gpuModel",),
                    "is not a GPU model this blueprint knows",
                    self.gpu_model,
                    ", ".join(sorted(GPU_MODELS)),
                    "use a model name from components/gpu_skus.py",
                )
            )
        if self.kind == "mig":
            if self.mig_profile is None:
                issues.append(
                    Issue(
                        ("migProfile",),
                        "is required for kind mig",
                        None,
                        ", ".join(MIG_PROFILES),
                        "add migProfile (the slot's migProfile the slices come from)",
                    )
                )
            elif model is not None and self.mig_profile not in model.mig:
                issues.append(
                    Issue(
                        ("migProfile",),
                        f"{self.gpu_model} GPUs have no MIG slices",
                        self.mig_profile,
                        "A100, H100 and H200 models",
                        "use kind whole or timeShared for this model",
                    )
                )
        elif self.mig_profile is not None:
            issues.append(
                Issue(
                    ("migProfile",),
                    f"only applies to kind mig (this profile is {self.kind})",
                    self.mig_profile,
                    "unset",
                    "remove migProfile or set kind: mig",
                )
            )
        if self.kind in SHARED_CLAIM_KINDS:
            if self.replicas is None:
                issues.append(
                    Issue(
                        ("replicas",),
                        f"is required for kind {self.kind}",
                        None,
                        "2..64" if self.kind == "timeShared" else f"2..{MPS_MAX_CLIENTS}",
                        "add replicas: the number of pods that share one GPU",
                    )
                )
            if model is not None and model.vendor != "nvidia":
                issues.append(
                    Issue(
                        ("kind",),
                        "GPU sharing is configured through the NVIDIA driver's GpuConfig",
                        self.kind,
                        "whole, gpuNic for AMD models",
                        "use kind whole",
                    )
                )
        else:
            if self.replicas is not None:
                issues.append(
                    Issue(
                        ("replicas",),
                        f"only applies to kinds timeShared and mps (this profile is {self.kind})",
                        self.replicas,
                        "unset",
                        "remove replicas or set kind: timeShared or mps",
                    )
                )
            if self.interval != "Default":
                issues.append(
                    Issue(("interval",), "only applies to kind timeShared", self.interval, "unset", "remove interval")
                )
        issues.extend(self._mps_issues(model))
        raise_issues(issues)
        return self

    def _mps_issues(self, model: GpuModel | None) -> list[Issue]:
        issues: list[Issue] = []
        if self.kind != "mps":
            for key, value in (
                ("activeThreadPercentage", self.active_thread_percentage),
                ("pinnedMemoryGib", self.pinned_memory_gib),
            ):
                if value is not None:
                    issues.append(
                        Issue(
                            (key,),
                            f"only applies to kind mps (this profile is {self.kind})",
                            value,
                            "unset",
                            f"remove {key} or set kind: mps",
                        )
                    )
            return issues
        if self.interval != "Default":
            issues.append(
                Issue(("interval",), "only applies to kind timeShared", self.interval, "unset", "remove interval")
            )
        if self.replicas is not None and self.replicas > MPS_MAX_CLIENTS:
            issues.append(
                Issue(
                    ("replicas",),
                    f"MPS serves at most {MPS_MAX_CLIENTS} clients per GPU",
                    self.replicas,
                    f"2..{MPS_MAX_CLIENTS}",
                    f"lower replicas to {MPS_MAX_CLIENTS} or fewer",
                )
            )
        if (
            model is not None
            and self.replicas is not None
            and self.pinned_memory_gib is not None
            and self.pinned_memory_gib * self.replicas > model.memory_gib
        ):
            issues.append(
                Issue(
                    ("pinnedMemoryGib",),
                    f"{self.replicas} clients x {self.pinned_memory_gib} GiB exceed the {model.memory_gib:g} GiB "
                    f"of one {model.name}: the limits would not isolate the clients' memory",
                    self.pinned_memory_gib,
                    f"<= {math.floor(model.memory_gib / self.replicas)}",
                    "lower pinnedMemoryGib or replicas (or leave pinnedMemoryGib unset for an even split)",
                )
            )
        return issues

    @property
    def model(self) -> GpuModel:
        return GPU_MODELS[self.gpu_model]

    @property
    def mps_thread_percentage(self) -> int:
        """``kind: mps``: each client's share of the GPU's SMs (percent)."""
        assert self.kind == "mps"
        assert self.replicas is not None
        return self.active_thread_percentage or max(1, 100 // self.replicas)

    @property
    def mps_memory_gib(self) -> int:
        """``kind: mps``: each client's pinned device memory limit (GiB, whole: the driver takes a quantity)."""
        assert self.kind == "mps"
        assert self.replicas is not None
        return self.pinned_memory_gib or math.floor(self.model.memory_gib / self.replicas)


class DraSpec(Spec):
    """``dra`` in stack config: pinned driver charts and the cluster-independent sharing profiles."""

    nvidia_driver: OciChartSpec = Field(default_factory=OciChartSpec)
    device_plugin: RepoChartSpec = Field(default_factory=RepoChartSpec)
    profiles: dict[Annotated[str, Field(pattern=PROFILE_KEY)], SharingProfileSpec] = Field(default_factory=dict)
