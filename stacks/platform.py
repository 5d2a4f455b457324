"""Composition: one stack's platform from its validated configuration.

This is the only place that wires components together. Environments differ only in their stack files;
nothing here asks which stack it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.cluster import AksCluster, ClusterArgs, ClusterHandle
from stacks.config import PlatformConfig


@dataclass
class Platform:
    """What the composition built: handles for tests and tools, and the stack outputs."""

    config: PlatformConfig
    clusters: dict[str, ClusterHandle] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)


def build_platform(cfg: PlatformConfig) -> Platform:
    platform = Platform(cfg)
    tags = cfg.base_tags()
    for key, spec in cfg.clusters.items():
        cluster = AksCluster(
            key,
            ClusterArgs(
                key=key,
                environment=cfg.environment,
                spec=spec,
                tags=tags,
                upgrade_channel=spec.upgrade.channel,
                kubelogin=cfg.kubelogin,
                protect=cfg.protect,
                name_prefix=cfg.name_prefix,
            ),
        )
        handle = cluster.handle
        platform.clusters[key] = handle
        platform.outputs[f"{key}ClusterName"] = handle.name
        platform.outputs[f"{key}ResourceGroup"] = handle.resource_group_name
        platform.outputs[f"{key}OidcIssuerUrl"] = cluster.oidc_issuer_url
        platform.outputs[f"{key}Kubeconfig"] = cluster.kubeconfig
        platform.outputs[f"{key}GpuPools"] = {
            slot.pool_name: {"group": slot.group, "color": slot.colour, "role": "active" if slot.active else "standby",
                             "vmSize": slot.spec.vm_size}
            for slot in handle.gpu_slots
        }
    return platform


def export(platform: Platform) -> None:
    for name, value in platform.outputs.items():
        pulumi.export(name, value)
