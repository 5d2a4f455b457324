"""GPU allocation with Dynamic Resource Allocation: the GPU drivers, sharing profiles and team quotas.

Per cluster (``features.dra: true``) this builds:

- the NVIDIA DRA driver (chart ``dra-driver-nvidia-gpu``, pinned in ``dra.nvidiaDriver``) for NVIDIA pools
  with ``allocation: dra``: GPU allocation on, compute domains off (no Azure size in the SKU table has
  multi-node NVLink), ``nvidiaDriverRoot`` from the pools' driver mode, ``resource.k8s.io/v1`` set
  explicitly, the kubelet plugin only on DRA GPU nodes of both colours (tolerating the GPU and standby
  taints), the controller on system nodes;
- the NVIDIA device plugin (chart ``nvidia-device-plugin``, pinned in ``dra.devicePlugin``) restricted to
  pools with ``allocation: devicePlugin``, so that no node ever has two GPU advertisers;
- one blueprint-owned DeviceClass per sharing profile offered on the cluster (``dra.profiles``): whole
  GPU by model, MIG slice, time-shared GPU and MPS share (thread percentage and pinned memory
  limit per client; the driver's opaque ``GpuConfig`` in the class, so a claim on the class is
  enough; each sharing kind switches on its driver gate, ``TimeSlicingSettings`` / ``MPSSupport``)
  and GPU + RDMA NIC on one PCIe root; AMD Instinct pools get classes on the AMD driver (``gpu.amd.com``) instead;
- per team (``teams``): a namespace (unless Fleet places it: ``fleet.managedNamespaces``), the claim
  templates (time-shared profiles: shared ResourceClaims) the team may use, a ResourceQuota on
  ``<class>.deviceclass.resource.k8s.io/devices`` that also closes every other GPU class of the cluster to
  the team, and (``networkIsolation``, default on) a
  NetworkPolicy that admits ingress only from the namespace itself, the namespaces in
  ``allowIngressFrom`` and the managed Prometheus collector; with ``egress.defaultDeny`` Cilium FQDN egress
  policies (``egress.py``: DNS, the namespace, named hosts, the model hub for model servers).

Removing a team from config never opens its namespace: the Namespace, its ResourceQuota and its NetworkPolicy
are ``retainOnDelete`` together (Pulumi forgets them; the namespace stays locked down with its pods until an
operator deletes it). The claim templates and shared claims are deleted: they grant GPUs, they guard nothing.

AMD's DRA driver (ROCm ``k8s-gpu-dra-driver``) publishes no Helm repository that can be pinned here: it
is installed from its release chart (README, "GPU allocation"); the blueprint's AMD classes select its
devices. GPU + NIC profiles need a NIC DRA driver publishing ``dra.net`` devices (DraNet) on RDMA pools.

Files: ``spec.py`` (the ``dra`` models), ``checks.py`` (cross-key checks with ``teams`` and the GPU pools),
``offers.py`` (what each cluster offers, pure: :func:`offers_for` is what model serving places on),
``objects.py`` (the Kubernetes objects and chart values, pure), ``component.py`` (:class:`GpuDra`),
``summary.py`` (the plan summary's section).
"""

from components.dra.checks import dra_issues
from components.dra.component import IMMUTABLE_SPEC, GpuDra, GpuDraArgs
from components.dra.objects import (
    claim_spec,
    device_class,
    device_plugin_values,
    feature_gates,
    gpu_selector,
    http_policies,
    ingress_sources,
    network_policy,
    nic_device_class,
    nvidia_dra_values,
    team_objects,
)
from components.dra.offers import (
    SharingOffer,
    SlotCapacity,
    device_class_name,
    nvidia_driver_root,
    offers_for,
    quota_key,
    slot_capacity,
)
from components.dra.spec import SHARED_CLAIM_KINDS, DraSpec, OciChartSpec, RepoChartSpec, SharingProfileSpec
from components.dra.summary import dra_summary_lines

__all__ = [
    "IMMUTABLE_SPEC",
    "SHARED_CLAIM_KINDS",
    "DraSpec",
    "GpuDra",
    "GpuDraArgs",
    "OciChartSpec",
    "RepoChartSpec",
    "SharingOffer",
    "SharingProfileSpec",
    "SlotCapacity",
    "claim_spec",
    "device_class",
    "device_class_name",
    "device_plugin_values",
    "dra_issues",
    "dra_summary_lines",
    "feature_gates",
    "gpu_selector",
    "http_policies",
    "ingress_sources",
    "network_policy",
    "nic_device_class",
    "nvidia_dra_values",
    "nvidia_driver_root",
    "offers_for",
    "quota_key",
    "slot_capacity",
    "team_objects",
]
