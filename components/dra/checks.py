"""Cross-key checks of ``dra``, ``teams`` and the clusters' GPU pools (issue paths from the config root)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from components._common import Issue
from components.dra.offers import offers_for
from components.dra.spec import DraSpec
from components.facts import RESERVED_NAMESPACES
from components.gpu_pools import GpuPoolGroupSpec
from components.teams import DNS_LABEL, TeamSpec, team_clusters

if TYPE_CHECKING:
    from components.cluster import ClusterSpec


def dra_issues(dra: DraSpec, teams: dict[str, TeamSpec], clusters: dict[str, ClusterSpec]) -> list[Issue]:
    """Cross-key checks of ``dra``, ``teams`` and the clusters' GPU pools (paths from the config root)."""
    issues: list[Issue] = []
    for key, cluster in clusters.items():
        modes: dict[str, tuple[str, str]] = {}
        for group, pool in cluster.gpu_pools.items():
            path = ("clusters", key, "gpuPools", group, "allocation")
            if pool.allocation == "dra" and not cluster.features.dra:
                issues.append(
                    Issue(
                        path,
                        "is dra but the cluster has features.dra false: no driver would advertise "
                        "these GPUs, and a device plugin added later would be a second advertiser",
                        pool.allocation,
                        "devicePlugin when features.dra is false",
                        f"set allocation: devicePlugin, or clusters.{key}.features.dra: true",
                    )
                )
            if pool.allocation == "devicePlugin" and _vendor(pool) == "amd":
                issues.append(
                    Issue(
                        path,
                        "the NVIDIA device plugin cannot advertise AMD GPUs",
                        pool.allocation,
                        "dra for AMD Instinct pools",
                        "set allocation: dra",
                    )
                )
            if pool.allocation == "dra" and cluster.features.dra and _vendor(pool) == "nvidia":
                for colour, slot in pool.slots.items():
                    modes.setdefault(slot.driver, (group, colour))
        if len(modes) > 1:
            odd_group, odd_colour = modes["None"]
            issues.append(
                Issue(
                    ("clusters", key, "gpuPools", odd_group, "slots", odd_colour, "driver"),
                    "differs from other DRA slots of the cluster: the NVIDIA DRA driver's kubelet plugin "
                    "has one nvidiaDriverRoot per cluster",
                    "None",
                    "Install on every DRA slot (or None on every one)",
                    "use one driver mode for all NVIDIA DRA slots of a cluster",
                )
            )

    offered = {key: {o.profile for o in offers_for(dra, c)} for key, c in clusters.items()}
    for name, profile in dra.profiles.items():
        if not any(name in names for names in offered.values()):
            need = {
                "mig": f"a DRA slot with vmSize of {profile.gpu_model} and migProfile {profile.mig_profile}",
                "gpuNic": f"a DRA slot with an RDMA {profile.gpu_model} size and no migProfile",
            }.get(profile.kind, f"a DRA slot with a {profile.gpu_model} size and no migProfile")
            issues.append(
                Issue(
                    ("dra", "profiles", name),
                    "is offered by no GPU pool of any cluster",
                    profile.gpu_model,
                    need,
                    "add such a pool or remove the profile",
                )
            )

    for team, spec in teams.items():
        if spec.egress.default_deny:
            for key in team_clusters(spec, clusters):
                target = clusters.get(key)
                if target is not None and not target.advanced_networking.security:
                    issues.append(
                        Issue(
                            ("teams", team, "egress", "defaultDeny"),
                            f"needs FQDN policies, but cluster {key} has advancedNetworking.security false (Cilium "
                            "toFQDNs rules are an ACNS security feature)",
                            True,
                            "false on clusters without ACNS security",
                            f"set clusters.{key}.advancedNetworking.security: true, or egress.defaultDeny: false",
                        )
                    )
        if not DNS_LABEL.match(team):
            issues.append(
                Issue(
                    ("teams", team),
                    "team key becomes the namespace name and must be a DNS label",
                    team,
                    DNS_LABEL.pattern,
                    "rename the team, e.g. research",
                )
            )
        elif team in RESERVED_NAMESPACES or team.startswith("kube-"):
            issues.append(
                Issue(("teams", team), "names a system namespace", team, "any other DNS label", "rename the team")
            )
        for i, ckey in enumerate(spec.clusters or []):
            if ckey not in clusters:
                issues.append(
                    Issue(
                        ("teams", team, "clusters", i),
                        "names no cluster",
                        ckey,
                        ", ".join(clusters),
                        "use a cluster id from clusters",
                    )
                )
            elif not clusters[ckey].features.dra:
                issues.append(
                    Issue(
                        ("teams", team, "clusters", i),
                        "names a cluster with features.dra false",
                        ckey,
                        "clusters with DRA",
                        f"enable clusters.{ckey}.features.dra",
                    )
                )
        keys = [c for c in team_clusters(spec, clusters) if c in clusters and clusters[c].features.dra]
        if not keys and spec.profiles:
            issues.append(
                Issue(
                    ("teams", team, "clusters"),
                    "no cluster with DRA to place the team on",
                    spec.clusters,
                    "clusters with features.dra true",
                    "enable DRA on a cluster",
                )
            )
        for name in spec.profiles:
            if name not in dra.profiles:
                issues.append(
                    Issue(
                        ("teams", team, "profiles", name),
                        "is not a sharing profile",
                        name,
                        ", ".join(sorted(dra.profiles)) or "(none defined)",
                        "define it under dra.profiles or remove it",
                    )
                )
                continue
            missing = [c for c in keys if name not in offered[c]]
            if missing:
                issues.append(
                    Issue(
                        ("teams", team, "profiles", name),
                        f"is offered by no GPU pool on cluster(s) {', '.join(missing)}",
                        name,
                        ", ".join(sorted(set().union(*(offered[c] for c in missing)))) or "(none)",
                        "add a matching pool there, or limit the team's clusters",
                    )
                )
    return issues


def _vendor(pool: GpuPoolGroupSpec) -> str:
    vendors = {s.sku.gpu.vendor for s in pool.slots.values()}
    return next(iter(vendors)) if len(vendors) == 1 else "mixed"
