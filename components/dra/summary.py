"""The plan summary's "GPU allocation (DRA)" section (pure): classes, team templates, pods per pool slot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from components.dra.offers import _dra_slots, device_class_name, nvidia_driver_root, offers_for, slot_capacity
from components.dra.spec import SHARED_CLAIM_KINDS, DraSpec, SharingProfileSpec
from components.facts import MTLS_SWITCH_IN_API
from components.teams import TeamSpec, team_clusters

if TYPE_CHECKING:
    from components.cluster import ClusterSpec


def _unit(profile: SharingProfileSpec) -> str:
    model = profile.model
    if profile.kind == "mig":
        assert profile.mig_profile is not None
        return f"{model.mig[profile.mig_profile].name} MIG slice"
    if profile.kind == "timeShared":
        return f"time-shared {model.name} replica"
    if profile.kind == "mps":
        return (
            f"MPS client of a {model.name} ({profile.mps_thread_percentage}% of its SMs, "
            f"{profile.mps_memory_gib} GiB pinned memory)"
        )
    if profile.kind == "gpuNic":
        return f"{model.name} + RDMA NIC"
    return f"whole {model.name}"


def dra_summary_lines(dra: DraSpec, teams: Mapping[str, TeamSpec], clusters: Mapping[str, ClusterSpec]) -> list[str]:
    """The plan summary's GPU allocation section: classes, team templates and pods per pool slot."""
    lines = ["GPU allocation (DRA)"]
    any_cluster = False
    for key, cluster in clusters.items():
        if not cluster.features.dra:
            continue
        any_cluster = True
        slots = _dra_slots(cluster)
        nvidia = [s for s in slots if s.sku.gpu.vendor == "nvidia"]
        plugin = [g for g, p in sorted(cluster.gpu_pools.items()) if p.allocation == "devicePlugin"]
        offers = offers_for(dra, cluster)
        driver = (
            f"{dra.nvidia_driver.chart.rsplit('/', 1)[-1]} {dra.nvidia_driver.version} "
            f"(nvidiaDriverRoot {nvidia_driver_root(nvidia)})"
            if nvidia
            else "no NVIDIA DRA pools"
        )
        lines.append(
            f"  {key}: {driver}; device plugin: "
            + (f"{dra.device_plugin.version} on {', '.join(plugin)}" if plugin else "none")
        )
        for name in sorted({o.profile for o in offers}):
            profile = dra.profiles[name]
            groups = ", ".join(o.pool_group for o in offers if o.profile == name)
            lines.append(
                f"    class {device_class_name(name):<32} {profile.kind:<10} {_unit(profile)} (pools {groups})"
            )
        for row in slot_capacity(dra, cluster):
            profile = dra.profiles[row.profile]
            sku = row.slot.sku
            lines.append(
                f"    {row.slot.pool_name:<12} {sku.gpu_count} x {sku.gpu.name}: {row.profile} = {row.per_node} x "
                f"{_unit(profile)} per node, {row.at_max} at maxCount {row.slot.spec.max_count}"
            )
        for team, spec in sorted(teams.items()):
            if key not in team_clusters(spec, clusters):
                continue
            parts = []
            for name, quota in sorted(spec.profiles.items()):
                profile = dra.profiles[name]
                if profile.kind in SHARED_CLAIM_KINDS:
                    parts.append(f"{name} ({quota} shared claims x {profile.replicas} pods)")
                else:
                    parts.append(f"{name} (template, quota {quota})")
            # The namespace label asks for sidecar-free mTLS; the cluster's API version cannot switch it on.
            flags = (" [mtls requested, not enforced]" if not MTLS_SWITCH_IN_API else " [mtls]") if spec.mtls else ""
            if spec.egress.default_deny:
                flags += " [egress default deny" + (
                    f", allowed {', '.join(sorted(set(spec.egress.allow_fqdns)))}]" if spec.egress.allow_fqdns else "]"
                )
            if not spec.network_isolation:
                flags += " [no network isolation]"
            elif spec.allow_ingress_from:
                flags += f" [ingress also from {', '.join(sorted(spec.allow_ingress_from))}]"
            lines.append(f"    team {team}{flags}: " + (", ".join(parts) or "no GPU profiles"))
    if not any_cluster:
        lines.append("  (no cluster with features.dra)")
    return lines
