"""Facts about the Azure GPU VM sizes the blueprint knows: vendor, GPU model, count, memory, MIG layouts.

Validation (MIG only where the hardware has it, AMD pools get the AMD driver), the DRA sharing profiles,
the model-fit analysis, the cost estimate and the policy pack all read this one table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Vendor = Literal["nvidia", "amd"]
MigProfile = Literal["MIG1g", "MIG2g", "MIG3g", "MIG4g", "MIG7g"]
MIG_PROFILES: tuple[MigProfile, ...] = ("MIG1g", "MIG2g", "MIG3g", "MIG4g", "MIG7g")


@dataclass(frozen=True)
class MigSlice:
    """One MIG layout of a GPU: the slice name the driver advertises, how many fit, memory per slice."""

    name: str
    per_gpu: int
    memory_gib: float


@dataclass(frozen=True)
class GpuModel:
    name: str
    vendor: Vendor
    memory_gib: float
    product_name: str
    """The product name the driver publishes (``productName`` attribute for NVIDIA, ``family`` for AMD)."""
    bandwidth_gbs: float
    """Peak memory bandwidth in GB/s (10^9 bytes/s) from the vendor datasheet (``BANDWIDTH_SOURCES``): it bounds the
    decode rate (components/serving/fit.py ``throughput``)."""
    mig: dict[MigProfile, MigSlice] = field(default_factory=dict)


@dataclass(frozen=True)
class GpuSku:
    vm_size: str
    gpu: GpuModel
    gpu_count: int
    vcpus: int
    memory_gib: int
    rdma: bool = False
    """InfiniBand/RDMA NICs on the VM (ND-series)."""

    @property
    def mig_capable(self) -> bool:
        return bool(self.gpu.mig)


def _mig(memory_gib: float, one_g: float, three_g: float) -> dict[MigProfile, MigSlice]:
    """Standard A100/H100-class MIG layouts: 7 x 1g, 3 x 2g, 2 x 3g, 1 x 4g, 1 x 7g."""
    two_g = one_g * 2
    g1, g2, g3, g7 = (round(v) for v in (one_g, two_g, three_g, memory_gib))
    return {
        "MIG1g": MigSlice(f"1g.{g1}gb", 7, one_g),
        "MIG2g": MigSlice(f"2g.{g2}gb", 3, two_g),
        "MIG3g": MigSlice(f"3g.{g3}gb", 2, three_g),
        "MIG4g": MigSlice(f"4g.{g3}gb", 1, three_g),
        "MIG7g": MigSlice(f"7g.{g7}gb", 1, memory_gib),
    }


T4 = GpuModel("T4", "nvidia", 16, "Tesla T4", 320)
A10 = GpuModel("A10", "nvidia", 24, "NVIDIA A10", 600)
A100_40 = GpuModel("A100-40GB", "nvidia", 40, "NVIDIA A100-SXM4-40GB", 1555, _mig(40, 5, 20))
A100_80 = GpuModel("A100-80GB", "nvidia", 80, "NVIDIA A100 80GB PCIe", 1935, _mig(80, 10, 40))
A100_80_SXM = GpuModel("A100-80GB-SXM", "nvidia", 80, "NVIDIA A100-SXM4-80GB", 2039, _mig(80, 10, 40))
H100_NVL = GpuModel("H100-NVL", "nvidia", 94, "NVIDIA H100 NVL", 3938, _mig(94, 12, 47))
H100 = GpuModel("H100", "nvidia", 80, "NVIDIA H100 80GB HBM3", 3350, _mig(80, 10, 40))
H200 = GpuModel("H200", "nvidia", 141, "NVIDIA H200", 4800, _mig(141, 18, 71))
MI300X = GpuModel("MI300X", "amd", 192, "AMD Instinct MI300X", 5300)

BANDWIDTH_SOURCES: dict[str, str] = {
    # Vendor datasheets (peak HBM/GDDR bandwidth); checked 2026-12-03 against the corroborating pages named.
    "T4": "https://www.nvidia.com/en-us/data-center/tesla-t4/ (320+ GB/s GDDR6; 256-bit at 10 Gbps = 320.0 GB/s, "
    "sysrqmts.com/en/gpus/nvidia/tesla/t4)",
    "A10": "https://www.nvidia.com/en-us/data-center/products/a10-gpu/ (600 GB/s GDDR6; baseten.co A10 vs A10G)",
    "A100-40GB": "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
    "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf (A100 40GB: 1,555 GB/s HBM2)",
    "A100-80GB": "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
    "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf (A100 80GB PCIe: 1,935 GB/s HBM2e)",
    "A100-80GB-SXM": "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
    "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf (A100 80GB SXM: 2,039 GB/s HBM2e)",
    "H100-NVL": "https://www.nvidia.com/en-us/data-center/h100/ (H100 NVL: 3.9 TB/s HBM3 per GPU; 3,938 GB/s in the "
    "H100 NVL product brief, 3.93 TB/s on grokipedia.com/page/210100120)",
    "H100": "https://www.nvidia.com/en-us/data-center/h100/ (H100 SXM: 3.35 TB/s HBM3)",
    "H200": "https://www.nvidia.com/en-us/data-center/h200/ (4.8 TB/s HBM3e)",
    "MI300X": "https://www.amd.com/en/products/accelerators/instinct/mi300/mi300x.html (5.3 TB/s HBM3)",
}
"""Where each GPU model's ``bandwidth_gbs`` comes from."""

GPU_SKUS: dict[str, GpuSku] = {
    sku.vm_size: sku
    for sku in (
        GpuSku("Standard_NC4as_T4_v3", T4, 1, 4, 28),
        GpuSku("Standard_NC8as_T4_v3", T4, 1, 8, 56),
        GpuSku("Standard_NC16as_T4_v3", T4, 1, 16, 110),
        GpuSku("Standard_NC64as_T4_v3", T4, 4, 64, 440),
        GpuSku("Standard_NV36ads_A10_v5", A10, 1, 36, 440),
        GpuSku("Standard_NC24ads_A100_v4", A100_80, 1, 24, 220),
        GpuSku("Standard_NC48ads_A100_v4", A100_80, 2, 48, 440),
        GpuSku("Standard_NC96ads_A100_v4", A100_80, 4, 96, 880),
        GpuSku("Standard_ND96asr_v4", A100_40, 8, 96, 900, rdma=True),
        GpuSku("Standard_ND96amsr_A100_v4", A100_80_SXM, 8, 96, 1900, rdma=True),
        GpuSku("Standard_NC40ads_H100_v5", H100_NVL, 1, 40, 320),
        GpuSku("Standard_NC80adis_H100_v5", H100_NVL, 2, 80, 640),
        GpuSku("Standard_ND96isr_H100_v5", H100, 8, 96, 1900, rdma=True),
        GpuSku("Standard_ND96isr_H200_v5", H200, 8, 96, 1850, rdma=True),
        GpuSku("Standard_ND96is_MI300X_v5", MI300X, 8, 96, 1850, rdma=True),
    )
}


def gpu_sku(vm_size: str) -> GpuSku | None:
    """Look a VM size up case-insensitively (Azure treats VM size names case-insensitively)."""
    found = GPU_SKUS.get(vm_size)
    if found is not None:
        return found
    lowered = vm_size.lower()
    return next((s for k, s in GPU_SKUS.items() if k.lower() == lowered), None)
