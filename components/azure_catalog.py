"""What Azure offers, as far as a stack file may name it: regions, system-pool VM sizes, AKS Kubernetes minors.

One place for each list, with its source, so that a value Azure would refuse at ``pulumi up`` (an unknown
region, a VM size that does not exist or is too small for the system pool, a Kubernetes minor AKS does not
offer) is refused when the stack file is validated instead. No cloud call: the lists are data.

How to extend:
- a new region: add its programmatic name (``az account list-locations --query "[].name" -o tsv``, the
  ``name`` column, lower case, no spaces) to :data:`AZURE_REGIONS`;
- a new system-pool size: add ``"Standard_<size>": (vCPUs, memory GiB)`` to :data:`SYSTEM_POOL_VM_SIZES`
  from the size's page under learn.microsoft.com/azure/virtual-machines/sizes (it must have at least
  :data:`SYSTEM_POOL_MIN_VCPUS` vCPUs and :data:`SYSTEM_POOL_MIN_MEMORY_GIB` GiB to be accepted);
- a new Kubernetes minor: raise :data:`AKS_MAX_MINOR` once AKS lists the minor as GA in its release calendar.
"""

from __future__ import annotations

import difflib
from typing import Annotated

from pydantic import AfterValidator, Field

from components._common import ConfigIssues, Issue, raise_issues

AZURE_REGIONS: frozenset[str] = frozenset(
    {
        # Americas
        "brazilsouth",
        "brazilsoutheast",
        "canadacentral",
        "canadaeast",
        "centralus",
        "chilecentral",
        "eastus",
        "eastus2",
        "mexicocentral",
        "northcentralus",
        "southcentralus",
        "westcentralus",
        "westus",
        "westus2",
        "westus3",
        # Europe
        "austriaeast",
        "belgiumcentral",
        "denmarkeast",
        "francecentral",
        "francesouth",
        "germanynorth",
        "germanywestcentral",
        "italynorth",
        "northeurope",
        "norwayeast",
        "norwaywest",
        "polandcentral",
        "spaincentral",
        "swedencentral",
        "swedensouth",
        "switzerlandnorth",
        "switzerlandwest",
        "uksouth",
        "ukwest",
        "westeurope",
        # Asia Pacific
        "australiacentral",
        "australiacentral2",
        "australiaeast",
        "australiasoutheast",
        "centralindia",
        "eastasia",
        "indonesiacentral",
        "japaneast",
        "japanwest",
        "jioindiacentral",
        "jioindiawest",
        "koreacentral",
        "koreasouth",
        "malaysiawest",
        "newzealandnorth",
        "southeastasia",
        "southindia",
        "westindia",
        # Middle East and Africa
        "israelcentral",
        "qatarcentral",
        "southafricanorth",
        "southafricawest",
        "uaecentral",
        "uaenorth",
    }
)
"""Physical regions of the public Azure cloud by programmatic name, as ``az account list-locations`` lists them
(``metadata.regionType == 'Physical'``; learn.microsoft.com/azure/reliability/regions-list). Logical
geographies (``europe``, ``unitedstates``), staging/EUAP regions and sovereign clouds (China, US Government)
are not deployment targets for this blueprint."""

SYSTEM_POOL_MIN_VCPUS = 2
SYSTEM_POOL_MIN_MEMORY_GIB = 4.0
"""AKS requires at least 2 vCPUs and 4 GiB of memory for a system node pool (learn.microsoft.com/azure/aks/
use-system-pools, "System and user node pools": 'System pools ... require VM SKUs of at least 2 vCPUs and 4 GB
memory')."""


def _family(pattern: str, sizes: tuple[int, ...], gib_per_vcpu: float) -> dict[str, tuple[int, float]]:
    return {pattern.format(n=n): (n, n * gib_per_vcpu) for n in sizes}


_D_V5 = (2, 4, 8, 16, 32, 48, 64, 96)
_DA_V5 = (2, 4, 8, 16, 32, 48, 64, 96)

SYSTEM_POOL_VM_SIZES: dict[str, tuple[int, float]] = {
    # General purpose, 4 GiB per vCPU (learn.microsoft.com/azure/virtual-machines/sizes/general-purpose/
    # dv5-series, dsv5-series, ddv5-series, ddsv5-series, dasv5-series, dadsv5-series, dv4-series, ddsv4-series).
    **_family("Standard_D{n}_v5", _D_V5, 4.0),
    **_family("Standard_D{n}s_v5", _D_V5, 4.0),
    **_family("Standard_D{n}d_v5", _D_V5, 4.0),
    **_family("Standard_D{n}ds_v5", _D_V5, 4.0),
    **_family("Standard_D{n}as_v5", _DA_V5, 4.0),
    **_family("Standard_D{n}ads_v5", _DA_V5, 4.0),
    **_family("Standard_D{n}s_v4", (2, 4, 8, 16, 32, 48, 64), 4.0),
    **_family("Standard_D{n}ds_v4", (2, 4, 8, 16, 32, 48, 64), 4.0),
    # Memory optimised, 8 GiB per vCPU (esv5-series, edsv5-series).
    **_family("Standard_E{n}s_v5", (2, 4, 8, 16, 20, 32, 48, 64, 96), 8.0),
    **_family("Standard_E{n}ds_v5", (2, 4, 8, 16, 20, 32, 48, 64, 96), 8.0),
    # Compute optimised, 2 GiB per vCPU (fsv2-series).
    **_family("Standard_F{n}s_v2", (2, 4, 8, 16, 32, 48, 64, 72), 2.0),
    # 2 GiB per vCPU (dlsv5-series): the smallest is exactly the minimum.
    **_family("Standard_D{n}ls_v5", (2, 4, 8, 16, 32, 48, 64, 96), 2.0),
    # Sizes that exist but are below the system-pool minimum: listed so that the message says "too small"
    # (bv1-series, bsv2-series, av2-series).
    "Standard_B1s": (1, 1.0),
    "Standard_B1ms": (1, 2.0),
    "Standard_B2ts_v2": (2, 1.0),
    "Standard_A1_v2": (1, 2.0),
}
"""``vmSize`` -> (vCPUs, memory GiB) of the sizes a system pool may name (sizes below the minimum are known so
they are refused as too small, not as unknown)."""

AKS_MIN_MINOR = 34
"""The oldest minor the blueprint accepts: DRA (``resource.k8s.io/v1``) is GA from Kubernetes 1.34."""
AKS_MAX_MINOR = 37
"""The newest minor AKS offers as GA: the AKS Kubernetes release calendar lists 1.37 (GA Oct 2026) as the newest
(learn.microsoft.com/azure/aks/supported-kubernetes-versions, MicrosoftDocs/azure-aks-docs
articles/aks/supported-kubernetes-versions.md, ms.date 2026-08-05)."""


def closest_region(name: str) -> str | None:
    """The known region nearest in spelling to ``name`` (for the fix of an 'unknown region' message)."""
    close = difflib.get_close_matches(name.lower().replace(" ", ""), sorted(AZURE_REGIONS), n=1, cutoff=0.75)
    return close[0] if close else None


def _known_region(name: str) -> str:
    if name not in AZURE_REGIONS:
        close = closest_region(name)
        raise_issues(
            [
                Issue(
                    (),
                    "is not an Azure region",
                    name,
                    "a region's programmatic name, e.g. westeurope, swedencentral, eastus2 "
                    "(components/azure_catalog.py AZURE_REGIONS)",
                    f"did you mean {close}?" if close else "use a name from `az account list-locations -o table`",
                )
            ]
        )
    return name


Region = Annotated[str, Field(pattern=r"^[a-z][a-z0-9]+$"), AfterValidator(_known_region)]
"""A region of the public Azure cloud (both ``location`` keys: the stack's and each cluster's)."""


def _system_pool_size(vm_size: str) -> str:
    spec = SYSTEM_POOL_VM_SIZES.get(vm_size)
    if spec is None:  # raises
        lower = {k.lower(): k for k in SYSTEM_POOL_VM_SIZES}
        close = lower.get(vm_size.lower()) or next(
            iter(difflib.get_close_matches(vm_size, list(SYSTEM_POOL_VM_SIZES), n=1, cutoff=0.8)), None
        )
        raise ConfigIssues(
            [
                Issue(
                    (),
                    "is not a VM size known for system pools",
                    vm_size,
                    "a general-purpose size such as Standard_D4ds_v5, Standard_D2s_v5, Standard_D4as_v5 "
                    "(components/azure_catalog.py SYSTEM_POOL_VM_SIZES)",
                    f"did you mean {close}?"
                    if close
                    else "pick a listed size, or add the size with its vCPUs and memory to SYSTEM_POOL_VM_SIZES",
                )
            ]
        )
    vcpus, memory = spec
    if vcpus < SYSTEM_POOL_MIN_VCPUS or memory < SYSTEM_POOL_MIN_MEMORY_GIB:
        raise_issues(
            [
                Issue(
                    (),
                    f"is too small for a system pool ({vcpus} vCPU, {memory:g} GiB)",
                    vm_size,
                    f">= {SYSTEM_POOL_MIN_VCPUS} vCPUs and {SYSTEM_POOL_MIN_MEMORY_GIB:g} GiB (AKS minimum)",
                    "use e.g. Standard_D2s_v5 (2 vCPU, 8 GiB) or Standard_D4ds_v5",
                )
            ]
        )
    return vm_size


SystemPoolVmSize = Annotated[str, AfterValidator(_system_pool_size)]
