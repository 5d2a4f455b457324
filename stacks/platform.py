"""Composition: one stack's platform from its validated configuration.

This is the only place that wires components together. Environments differ only in their stack files;
nothing here asks which stack it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.cluster import AksCluster, ClusterArgs, ClusterHandle
from components.dra import GpuDra, GpuDraArgs
from components.facts import DCGM_NAMESPACE, DEVICE_PLUGIN_NAMESPACE, NVIDIA_DRA_NAMESPACE
from components.fleet import (
    AksFleet,
    FleetArgs,
    cluster_upgrade_channel,
    fleet_namespaces,
    stage_outputs,
    team_namespaces_on,
    versions_managed_externally,
)
from components.maintenance import MaintenanceArgs, MaintenanceWindows
from components.observability import (
    LogWorkspace,
    LogWorkspaceArgs,
    MonitoredCluster,
    Observability,
    ObservabilityArgs,
    cluster_monitor_profile,
    dcgm_exported,
    monitored,
    omsagent_addon,
    read_webhook_secrets,
    stack_outputs,
)
from components.serving import ModelServing, ModelServingArgs, analyse, uses_kaito
from components.serving.cache import ModelWeightCache, ModelWeightCacheArgs
from components.serving.fit import Fit
from components.serving.workload import read_hf_tokens
from components.supply_chain import SupplyChain, SupplyChainArgs
from stacks.config import PlatformConfig


@dataclass
class Platform:
    """What the composition built: handles for tests and tools, and the stack outputs."""

    config: PlatformConfig
    clusters: dict[str, ClusterHandle] = field(default_factory=dict)
    dra: dict[str, GpuDra] = field(default_factory=dict)
    """GPU drivers, sharing classes and team namespaces per cluster with ``features.dra``."""
    supply_chain: dict[str, SupplyChain] = field(default_factory=dict)
    """Kyverno and the image admission policy per DRA cluster (``supplyChain.enabled``)."""
    outputs: dict[str, Any] = field(default_factory=dict)


def build_platform(cfg: PlatformConfig) -> Platform:
    platform = Platform(cfg)
    tags = cfg.base_tags()
    # Secrets first: a missing webhook URL is a configuration error before anything registers.
    webhook_urls = read_webhook_secrets(cfg.monitoring, f"Pulumi.{pulumi.get_stack()}.yaml")
    hf_tokens = read_hf_tokens(cfg.models, f"Pulumi.{pulumi.get_stack()}.yaml")
    serving, _ = analyse(cfg.serving)  # validated with the config: every model here has a chosen fit
    maintenance: dict[str, MaintenanceWindows] = {}
    # Before the clusters: their omsagent add-on and Defender profile name the workspace.
    logs = (
        LogWorkspace(
            "logs",
            LogWorkspaceArgs(
                cfg.monitoring.logs, cfg.environment, cfg.location, cfg.name_prefix, tags, protect=cfg.protect
            ),
        )
        if cfg.monitoring.logs_enabled
        else None
    )
    for key, spec in cfg.clusters.items():
        logged = logs is not None and monitored(cfg.monitoring, spec)
        cluster = AksCluster(
            key,
            ClusterArgs(
                key=key,
                environment=cfg.environment,
                spec=spec,
                tags=tags,
                upgrade_channel=cluster_upgrade_channel(cfg.fleet, key, spec),
                versions_managed_externally=versions_managed_externally(cfg.fleet, key, spec),
                kubelogin=cfg.kubelogin,
                protect=cfg.protect,
                name_prefix=cfg.name_prefix,
                azure_monitor_profile=cluster_monitor_profile(cfg.monitoring, spec),
                ai_toolchain_operator=spec.features.ai_toolchain_operator or uses_kaito(cfg.serving, key),
                addon_profiles={"omsagent": omsagent_addon(logs.workspace_id)}
                if logs is not None and logged and cfg.monitoring.logs.container_logs
                else {},
                defender_workspace_id=logs.workspace_id
                if logs is not None and logged and cfg.monitoring.logs.defender
                else None,
            ),
        )
        handle = cluster.handle
        platform.clusters[key] = handle
        if spec.maintenance.windows():
            # After the cluster and all its pool operations: AKS runs one operation per cluster at a time.
            maintenance[key] = MaintenanceWindows(
                f"{key}-maintenance",
                MaintenanceArgs(
                    handle.resource_group_name,
                    handle.name,
                    spec.maintenance,
                    after=[handle.cluster, *handle.gpu_pool_resources],
                ),
            )
        platform.outputs[f"{key}ClusterName"] = handle.name
        platform.outputs[f"{key}ResourceGroup"] = handle.resource_group_name
        platform.outputs[f"{key}OidcIssuerUrl"] = cluster.oidc_issuer_url
        platform.outputs[f"{key}Kubeconfig"] = cluster.kubeconfig
        platform.outputs[f"{key}GpuPools"] = {
            slot.pool_name: {
                "group": slot.group,
                "color": slot.colour,
                "role": "active" if slot.active else "standby",
                "vmSize": slot.spec.vm_size,
            }
            for slot in handle.gpu_slots
        }
    # The fleet before the in-cluster components: fleet-managed team namespaces are what the teams'
    # objects on member clusters wait for (team_namespaces_on).
    fleet: AksFleet | None = None
    if cfg.fleet is not None:
        fleet = AksFleet(
            "fleet",
            FleetArgs(
                spec=cfg.fleet,
                environment=cfg.environment,
                location=cfg.location,
                clusters=platform.clusters,
                tags=tags,
                namespaces=fleet_namespaces(cfg.fleet, cfg.teams, cfg.clusters),
                name_prefix=cfg.name_prefix,
                protect=cfg.protect,
                cluster_operations={k: list(m.configurations.values()) for k, m in maintenance.items()},
            ),
        )
        platform.outputs["fleetName"] = fleet.names.fleet
        platform.outputs["fleetResourceGroup"] = fleet.names.resource_group
        platform.outputs["fleetUpdateStages"] = stage_outputs(cfg.fleet)
    for key, handle in platform.clusters.items():
        if not handle.spec.features.dra:
            continue
        # No depends_on the AksCluster component: that would wait for its GPU pools. The explicit
        # provider already orders everything after the ManagedCluster.
        dra = GpuDra(
            f"{key}-dra",
            GpuDraArgs(
                cluster=handle,
                dra=cfg.dra,
                teams=cfg.teams,
                fleet_namespaces=team_namespaces_on(fleet, key),
            ),
        )
        platform.dra[key] = dra
        platform.outputs[f"{key}GpuDeviceClasses"] = sorted(dra.device_classes)
        fits = [f for f in serving.fits.values() if f.spec.cluster == key and f.chosen is not None]
        pools = {slot.pool_name: pool for slot, pool in zip(handle.gpu_slots, handle.gpu_pool_resources, strict=True)}
        cached: dict[str, list[pulumi.Resource]] = {}
        # The weight cache serves vLLM Deployments; KAITO and KubeRay pods download their checkpoints themselves.
        cacheable = [f for f in fits if f.spec.runtime == "vllm"]
        if cacheable and handle.weight_cache is not None:
            # Checkpoints downloaded once per cluster by fill Jobs; the model pods mount them read-only.
            weight_cache = ModelWeightCache(
                f"{key}-weights",
                ModelWeightCacheArgs(
                    fits=cacheable,
                    cache=handle.weight_cache,
                    oidc_issuer_url=handle.cluster.oidc_issuer_profile.apply(lambda p: p.issuer_url if p else ""),
                    provider=handle.provider,
                    namespaces=dict(dra.namespaces),
                    pools=pools,
                    hf_tokens=hf_tokens,
                ),
            )
            cached = weight_cache.model_dependencies
        if fits:
            models = ModelServing(
                f"{key}-models",
                ModelServingArgs(
                    fits=fits,
                    provider=handle.provider,
                    # The namespace owners: a Namespace of the DRA component, or the FleetManagedNamespace.
                    namespaces=dict(dra.namespaces),
                    http_policy_sources=dict(dra.model_ingress),
                    depends_on=[
                        *dra.device_classes.values(),
                        *dra.releases.values(),
                        *dra.network_policies.values(),
                        *(p for team in dra.egress_policies.values() for p in team),
                    ],
                    # Each model waits for the AgentPool it is placed on (not the whole pool chain).
                    pools=pools,
                    hf_tokens=hf_tokens,
                    cached_models=cached,
                ),
            )
            platform.outputs[f"{key}ModelEndpoints"] = models.services
        if cfg.supply_chain.enabled:
            platform.supply_chain[key] = SupplyChain(
                f"{key}-supply-chain",
                SupplyChainArgs(cfg.supply_chain, handle.provider, admitted_namespaces(cfg, platform, key, fits)),
            )
    if cfg.monitoring.enabled:
        monitoring = Observability("monitoring", observability_args(cfg, platform.clusters, tags, webhook_urls, logs))
        platform.outputs.update(stack_outputs(monitoring))
    return platform


def admitted_namespaces(cfg: PlatformConfig, platform: Platform, key: str, fits: Iterable[Fit]) -> dict[str, list[str]]:
    """Namespaces of one cluster the supply-chain policy covers -> the blueprint's image ids running there."""
    dra = platform.dra[key]
    namespaces: dict[str, list[str]] = {team: [] for team in dra.namespaces}
    runtime_images = {"vllm": "vllm", "kuberay": "ray-llm", "kaito": "kaito-preset"}
    for fit in fits:
        if fit.spec.team in namespaces:
            namespaces[fit.spec.team] = sorted({*namespaces[fit.spec.team], runtime_images[fit.spec.runtime]})
    if "nvidia-dra" in dra.releases:
        namespaces[NVIDIA_DRA_NAMESPACE] = ["nvidia-dra-driver"]
    if "device-plugin" in dra.releases:
        namespaces[DEVICE_PLUGIN_NAMESPACE] = ["nvidia-device-plugin"]
    handle = platform.clusters[key]
    monitoring = cfg.monitoring
    if monitoring.enabled and monitored(monitoring, handle.spec) and dcgm_exported(monitoring, handle.gpu_slots):
        namespaces[DCGM_NAMESPACE] = ["dcgm-exporter"]
    return namespaces


def observability_args(
    cfg: PlatformConfig,
    clusters: Mapping[str, ClusterHandle],
    tags: dict[str, str],
    webhook_urls: Mapping[str, pulumi.Input[str]],
    logs: LogWorkspace | None = None,
) -> ObservabilityArgs:
    """Monitoring's arguments from the root configuration and the built cluster handles (monitored ones only)."""
    spec = cfg.monitoring
    return ObservabilityArgs(
        spec=spec,
        environment=cfg.environment,
        location=cfg.location,
        name_prefix=cfg.name_prefix,
        tags=tags,
        webhook_urls=webhook_urls,
        protect=cfg.protect,
        log_workspace_id=logs.workspace_id if logs is not None else None,
        log_workspace_region=logs.location if logs is not None else None,
        clusters=[
            MonitoredCluster(
                key=k,
                name=h.name,
                location=h.location,
                cluster_id=h.cluster_id,
                provider=h.provider,
                gpu_slots=list(h.gpu_slots),
                oidc_issuer_url=h.cluster.oidc_issuer_profile.apply(lambda p: p.issuer_url if p else ""),
            )
            for k, h in clusters.items()
            if monitored(spec, h.spec)
        ],
    )


def export(platform: Platform) -> None:
    for name, value in platform.outputs.items():
        pulumi.export(name, value)
