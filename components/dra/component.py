"""The ``GpuDra`` component: one cluster's GPU advertisers (Helm releases), sharing-profile DeviceClasses and
team namespaces with their quotas, claim templates and NetworkPolicies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pulumi
import pulumi_kubernetes as k8s

from components._common import TYPE_PREFIX
from components.dra.egress import egress_policies
from components.dra.objects import (
    device_class,
    device_plugin_values,
    feature_gates,
    http_policies,
    ingress_sources,
    network_policy,
    nic_device_class,
    nvidia_dra_values,
    team_objects,
)
from components.dra.offers import SharingOffer, _dra_slots, offers_for
from components.dra.spec import NIC_CLASS, DraSpec
from components.facts import (
    DEVICE_PLUGIN_NAMESPACE,
    NVIDIA_DRA_NAMESPACE,
)
from components.teams import TeamSpec, namespace_object, team_clusters

if TYPE_CHECKING:
    from components.cluster import ClusterHandle

# ResourceClaim and ResourceClaimTemplate specs are immutable (resource.k8s.io/v1 API reference): a changed
# sharing profile cannot be an update, which the API server would refuse. Teams' pods name these objects, so the
# name stays and the object is replaced delete-first: pods already running keep the claims they hold (a
# ResourceClaim in use is deleted only once its pods release it), pods created in between wait for the new one.
IMMUTABLE_SPEC = pulumi.ResourceOptions(replace_on_changes=["spec"], delete_before_replace=True)


@dataclass(frozen=True)
class GpuDraArgs:
    cluster: ClusterHandle
    dra: DraSpec
    teams: dict[str, TeamSpec] = field(default_factory=dict)
    fleet_namespaces: dict[str, pulumi.Resource] = field(default_factory=dict)
    """Team -> the resource that creates its namespace on this cluster when that is not this component (a
    ``FleetManagedNamespace`` placed on it: components/fleet/). Those teams get no Namespace object here."""


class GpuDra(pulumi.ComponentResource):
    """One cluster's GPU advertisers, sharing-profile classes and team namespaces.

    Nothing here depends on the GPU pool resources: the charts and classes are ready before (and
    independent of) the first GPU node.
    """

    offers: list[SharingOffer]
    releases: dict[str, k8s.helm.v3.Release]
    device_classes: dict[str, k8s.resource.v1.DeviceClass]
    namespaces: dict[str, pulumi.Resource]
    """Team -> what creates its namespace on this cluster: a Namespace here, or the FleetManagedNamespace."""
    claim_templates: dict[str, list[str]]
    network_policies: dict[str, k8s.networking.v1.NetworkPolicy]
    egress_policies: dict[str, list[k8s.apiextensions.CustomResource]]
    """Team -> its FQDN egress CiliumNetworkPolicies (``egress.defaultDeny``; model servers wait for them)."""
    model_ingress: dict[str, list[str]]
    """Team -> namespaces that may call its model servers, for teams whose models need an L7 policy."""

    def __init__(self, name: str, args: GpuDraArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:GpuDra", name, None, opts)
        handle = args.cluster
        provider = handle.provider
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        dra_slots = _dra_slots(handle.spec)
        plugin_slots = [s for s in handle.gpu_slots if s.allocation == "devicePlugin"]
        self.offers = offers_for(args.dra, handle.spec)
        self.releases = {}
        self.device_classes = {}
        self.namespaces = {}
        self.claim_templates = {}
        self.network_policies = {}
        self.model_ingress = {}
        self.egress_policies = {}
        l7 = http_policies(handle.spec)

        nvidia_dra = [s for s in dra_slots if s.sku.gpu.vendor == "nvidia"]
        if nvidia_dra:
            gates = feature_gates(o.kind for o in self.offers)
            self.releases["nvidia-dra"] = k8s.helm.v3.Release(
                f"{name}-nvidia-dra",
                name="nvidia-dra-driver-gpu",
                chart=args.dra.nvidia_driver.chart,
                version=args.dra.nvidia_driver.version,
                namespace=NVIDIA_DRA_NAMESPACE,
                create_namespace=True,
                values=nvidia_dra_values(nvidia_dra, gates, args.dra.nvidia_driver.version),
                opts=child,
            )
        if plugin_slots:
            chart = args.dra.device_plugin
            self.releases["device-plugin"] = k8s.helm.v3.Release(
                f"{name}-device-plugin",
                name="nvidia-device-plugin",
                chart=chart.chart,
                version=chart.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
                namespace=DEVICE_PLUGIN_NAMESPACE,
                create_namespace=True,
                values=device_plugin_values(plugin_slots, chart.version),
                opts=child,
            )

        for profile in sorted({o.profile for o in self.offers}):
            obj = device_class(profile, args.dra.profiles[profile])
            self.device_classes[profile] = k8s.resource.v1.DeviceClass(
                f"{name}-class-{profile}", metadata=obj["metadata"], spec=obj["spec"], opts=child
            )
        if any(o.nic_device_class for o in self.offers):
            obj = nic_device_class()
            self.device_classes[NIC_CLASS] = k8s.resource.v1.DeviceClass(
                f"{name}-class-rdma-nic", metadata=obj["metadata"], spec=obj["spec"], opts=child
            )

        for team, spec in sorted(args.teams.items()):
            if handle.key not in team_clusters(spec, {handle.key: handle.spec}):
                continue
            namespace: pulumi.Resource
            # The guards (quota, default-deny policy) are retained like the namespace: removing a team from
            # config must leave its namespace locked down as it was (GPU quota, ingress isolation), never open
            # with its pods still running. Retained objects go when the namespace is deleted (by hand, or by
            # Fleet with deletePolicy Delete). README "GPU allocation (DRA)", "Removing a team".
            guard = pulumi.ResourceOptions(retain_on_delete=True)
            if team in args.fleet_namespaces:
                # Fleet creates the namespace, asynchronously after the FleetManagedNamespace: objects created
                # before it exists are retried by the Kubernetes provider until it does.
                namespace = args.fleet_namespaces[team]
            else:
                ns_obj = namespace_object(team, spec)
                # A team namespace holds the team's workloads: dropping it from Pulumi (a team removed from
                # config, or handed over to Fleet) leaves it in the cluster instead of deleting everything in it.
                namespace = k8s.core.v1.Namespace(
                    f"{name}-ns-{team}",
                    metadata=ns_obj["metadata"],
                    opts=pulumi.ResourceOptions.merge(child, guard),
                )
            self.namespaces[team] = namespace
            if spec.network_isolation:
                if l7:
                    self.model_ingress[team] = ingress_sources(team, spec)
                policy = network_policy(team, spec, exclude_model_servers=l7)
                self.network_policies[team] = k8s.networking.v1.NetworkPolicy(
                    f"{name}-{team}-networkpolicy",
                    metadata=policy["metadata"],
                    spec=policy["spec"],
                    opts=pulumi.ResourceOptions.merge(
                        pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[namespace]), guard
                    ),
                )
            # A guard like the NetworkPolicy: retained with the namespace when the team leaves the config.
            for obj in egress_policies(team, spec):
                self.egress_policies.setdefault(team, []).append(
                    k8s.apiextensions.CustomResource(
                        f"{name}-{team}-{obj['metadata']['name']}",
                        api_version=obj["apiVersion"],
                        kind=obj["kind"],
                        metadata=obj["metadata"],
                        spec=obj["spec"],
                        opts=pulumi.ResourceOptions.merge(
                            pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[namespace]), guard
                        ),
                    )
                )
            in_ns = pulumi.ResourceOptions(
                parent=self,
                provider=provider,
                depends_on=[namespace, *(self.device_classes[p] for p in spec.profiles if p in self.device_classes)],
            )
            self.claim_templates[team] = []
            objects = team_objects(team, spec, args.dra, self.offers)
            # The quota first, so that no claim is ever admitted outside it.
            for obj in sorted(objects, key=lambda o: o["kind"] != "ResourceQuota"):
                meta, kind = obj["metadata"], obj["kind"]
                resource_name = f"{name}-{team}-{kind.lower()}-{meta['name']}"
                if kind == "ResourceQuota":
                    quota = k8s.core.v1.ResourceQuota(
                        resource_name,
                        metadata=meta,
                        spec=obj["spec"],
                        opts=pulumi.ResourceOptions.merge(in_ns, guard),
                    )
                    in_ns = pulumi.ResourceOptions.merge(in_ns, pulumi.ResourceOptions(depends_on=[quota]))
                elif kind == "ResourceClaimTemplate":
                    self.claim_templates[team].append(meta["name"])
                    k8s.resource.v1.ResourceClaimTemplate(
                        resource_name,
                        metadata=meta,
                        spec=obj["spec"],
                        opts=pulumi.ResourceOptions.merge(in_ns, IMMUTABLE_SPEC),
                    )
                else:
                    k8s.resource.v1.ResourceClaim(
                        resource_name,
                        metadata=meta,
                        spec=obj["spec"],
                        opts=pulumi.ResourceOptions.merge(in_ns, IMMUTABLE_SPEC),
                    )

        self.register_outputs(
            {
                "deviceClasses": sorted(self.device_classes),
                "namespaces": sorted(self.namespaces),
                "fleetNamespaces": sorted(t for t in self.namespaces if t in args.fleet_namespaces),
            }
        )
