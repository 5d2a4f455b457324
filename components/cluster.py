"""An AKS cluster for AI workloads: Azure CNI overlay with the Cilium dataplane, Entra ID with Azure RBAC.

Builds the cluster's user-assigned identity, the ``ManagedCluster`` with exactly one inline pool (the
system pool, tainted ``CriticalAddonsOnly``), the role assignments the cluster and its operators need,
the blue-green GPU pools (as separate ``AgentPool`` resources) and an explicit Kubernetes provider.

Local accounts are disabled, so the provider's kubeconfig carries user credentials converted for
kubelogin (``azurecli`` on a workstation, ``workloadidentity`` in CI). The kubeconfig is only ever a
secret output.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import pulumi
import pulumi_azure_native as azure_native
import pulumi_kubernetes as k8s
import yaml
from pydantic import Field, field_validator, model_validator

from components._common import TYPE_PREFIX, Issue, Spec, azure_name, raise_issues, role_assignment
from components.access import (
    PRINCIPAL_TYPE_BY_LOGIN,
    RBAC_PROPAGATION_MAX_SECONDS,
    RBAC_PROPAGATION_MIN_SECONDS,
    RBAC_PROPAGATION_SECONDS,
    PrincipalType,
    deployer_cluster_admin,
)
from components.azure_catalog import AKS_MAX_MINOR, AKS_MIN_MINOR, Region, SystemPoolVmSize
from components.facts import SYSTEM_TAINT
from components.gpu_pools import (
    GROUP_KEY_MAX,
    K8S_MINOR,
    BlueGreenGpuPools,
    GpuPoolGroupSpec,
    GpuPoolsArgs,
    GpuSlot,
)
from components.maintenance import MaintenanceSpec
from components.network import Network, NetworkArgs, NetworkSpec
from components.weight_cache import WeightCacheHandle, WeightCacheSpec, WeightCacheStorage, WeightCacheStorageArgs

MIN_KUBERNETES_MINOR = AKS_MIN_MINOR
AKS_AAD_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
"""The application id of the AKS Entra ID server app, the audience of every kubelogin token."""


GROUP_KEY = re.compile(rf"^[a-z][a-z0-9]{{0,{GROUP_KEY_MAX - 1}}}$")
KubeloginMode = Literal["azurecli", "workloadidentity", "spn", "msi", "devicecode", "azd"]


Zone = Literal["1", "2", "3"]
ALL_ZONES: tuple[Zone, ...] = ("1", "2", "3")


def minor_of(version: str) -> int:
    return int(version.split(".")[1])


class ApiServerSpec(Spec):
    private: bool = True
    """A private API server (private endpoint in the node VNet). The secure default."""
    authorized_ip_ranges: list[ipaddress.IPv4Network] = Field(default_factory=list)
    """Required when ``private`` is false: who may reach the public API server."""

    @model_validator(mode="after")
    def _check(self) -> ApiServerSpec:
        issues: list[Issue] = []
        if not self.private and not self.authorized_ip_ranges:
            issues.append(
                Issue(
                    ("authorizedIpRanges",),
                    "is required when private is false (an open API server)",
                    [],
                    "one or more CIDR ranges, e.g. 203.0.113.0/24",
                    "list your office/CI egress ranges, or set private: true",
                )
            )
        for i, net in enumerate(self.authorized_ip_ranges):
            if net.prefixlen == 0:
                issues.append(
                    Issue(
                        ("authorizedIpRanges", i),
                        "opens the API server to the whole internet",
                        str(net),
                        "a bounded range",
                        "use your egress ranges instead of 0.0.0.0/0",
                    )
                )
        if self.private and self.authorized_ip_ranges:
            issues.append(
                Issue(
                    ("authorizedIpRanges",),
                    "has no effect on a private API server",
                    [str(n) for n in self.authorized_ip_ranges],
                    "[] when private is true",
                    "remove authorizedIpRanges or set private: false",
                )
            )
        raise_issues(issues)
        return self


class UpgradeChannelSpec(Spec):
    channel: Literal["rapid", "stable", "patch", "node-image", "none"] = "patch"
    """Cluster auto-upgrade channel. Forced to ``none`` when a Fleet update strategy drives upgrades."""
    node_os_channel: Literal["NodeImage", "SecurityPatch", "Unmanaged", "None"] = "NodeImage"


class SystemPoolSpec(Spec):
    vm_size: SystemPoolVmSize = "Standard_D4ds_v5"
    """At least 2 vCPUs and 4 GiB (AKS); the known sizes are in components/azure_catalog.py."""
    min_count: Annotated[int, Field(ge=1, le=100)] = 2
    max_count: Annotated[int, Field(ge=1, le=100)] = 5
    zones: list[Zone] = Field(default_factory=lambda: list(ALL_ZONES))
    os_disk_type: Literal["Ephemeral", "Managed"] = "Managed"

    @model_validator(mode="after")
    def _check(self) -> SystemPoolSpec:
        if self.min_count > self.max_count:
            raise_issues(
                [
                    Issue(
                        ("minCount",),
                        "must not exceed maxCount",
                        self.min_count,
                        f"1..{self.max_count}",
                        "lower minCount or raise maxCount",
                    )
                ]
            )
        return self


class AdvancedNetworkingSpec(Spec):
    """Advanced Container Networking Services on the Cilium dataplane."""

    observability: bool = True
    """Hubble flow metrics and flow visibility."""
    security: bool = True
    """FQDN and L7 (HTTP, Kafka) Cilium network policies."""
    policies: Literal["L7", "FQDN"] = "L7"


class SecuritySpec(Spec):
    local_accounts: bool = False
    """Relaxing this re-enables the static admin kubeconfig: flagged by the policy pack."""
    encryption_at_host: bool = True
    azure_policy: bool = True
    image_cleaner: bool = True
    defender_log_analytics_workspace_id: str | None = None
    """Turns on Microsoft Defender for Containers, reporting to this Log Analytics workspace."""
    admin_group_object_ids: list[uuid.UUID] = Field(default_factory=list)
    """Entra groups granted "Azure Kubernetes Service RBAC Cluster Admin" on the cluster (and set as the
    cluster's ``aadProfile.adminGroupObjectIDs``, bound to cluster-admin from its creation)."""
    grant_deployer_cluster_admin: bool = True
    """Grant the identity running ``pulumi up`` cluster admin, and make the Kubernetes provider wait for Azure
    RBAC to apply it (components/access.py). Off only when that identity is in ``adminGroupObjectIds``."""
    deployer_principal_type: PrincipalType | None = None
    """The deployer's principal type; unset: ``User`` for kubelogin ``azurecli``/``devicecode``/``azd``,
    ``ServicePrincipal`` for ``workloadidentity``/``spn``/``msi``."""
    rbac_propagation_seconds: Annotated[
        int, Field(ge=RBAC_PROPAGATION_MIN_SECONDS, le=RBAC_PROPAGATION_MAX_SECONDS)
    ] = RBAC_PROPAGATION_SECONDS
    """How long the provider waits after the deployer's grant is created or changed (Azure: up to 5 minutes)."""

    @model_validator(mode="after")
    def _check(self) -> SecuritySpec:
        if not self.grant_deployer_cluster_admin and not self.admin_group_object_ids:
            raise_issues(
                [
                    Issue(
                        ("grantDeployerClusterAdmin",),
                        "leaves nobody able to reach the Kubernetes API (local accounts are off and Azure RBAC "
                        "is on, so Owner/Contributor have no Kubernetes rights) and adminGroupObjectIds is empty",
                        False,
                        "true, or false with adminGroupObjectIds listing a group the deployer is a member of",
                        "remove grantDeployerClusterAdmin (default true), or list your operators' Entra group ids "
                        "in security.adminGroupObjectIds",
                    )
                ]
            )
        return self


class FeaturesSpec(Spec):
    dra: bool = True
    """Install the DRA GPU driver and the sharing profiles (needs Kubernetes >= 1.34)."""
    monitoring: bool = True
    """Ship metrics to the stack's Azure Monitor workspace."""
    fleet: bool = True
    """Join the stack's Fleet (when ``fleet`` is configured)."""
    ai_toolchain_operator: bool = False
    """Switch on the AKS AI toolchain operator add-on (KAITO) even without a ``runtime: kaito`` model here
    (a model with that runtime switches it on by itself)."""


class ClusterSpec(Spec):
    location: Region
    kubernetes_version: Annotated[str, Field(pattern=K8S_MINOR)]
    tier: Literal["Free", "Standard", "Premium"] = "Standard"
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    api_server: ApiServerSpec = Field(default_factory=ApiServerSpec)
    upgrade: UpgradeChannelSpec = Field(default_factory=UpgradeChannelSpec)
    system_pool: SystemPoolSpec = Field(default_factory=SystemPoolSpec)
    gpu_pools: dict[str, GpuPoolGroupSpec] = Field(default_factory=dict)
    advanced_networking: AdvancedNetworkingSpec = Field(default_factory=AdvancedNetworkingSpec)
    security: SecuritySpec = Field(default_factory=SecuritySpec)
    features: FeaturesSpec = Field(default_factory=FeaturesSpec)
    maintenance: MaintenanceSpec = Field(default_factory=MaintenanceSpec)
    """Planned maintenance windows for AKS's own upgrades (components/maintenance.py)."""
    weight_cache: WeightCacheSpec = Field(default_factory=WeightCacheSpec)
    """Shared model-weight cache: Azure Blob behind a private endpoint, mounted by the Blob CSI driver
    (components/weight_cache/). Off by default."""

    @field_validator("kubernetes_version")
    @classmethod
    def _supported_version(cls, version: str) -> str:
        # A field check (not a model check) so it is reported together with mistakes elsewhere in the cluster.
        if minor_of(version) < MIN_KUBERNETES_MINOR:
            raise_issues(
                [
                    Issue(
                        (),
                        f"must be 1.{MIN_KUBERNETES_MINOR} or newer",
                        version,
                        f"1.{MIN_KUBERNETES_MINOR} or newer",
                        f'set kubernetesVersion: "1.{MIN_KUBERNETES_MINOR}"',
                    )
                ]
            )
        if minor_of(version) > AKS_MAX_MINOR:
            raise_issues(
                [
                    Issue(
                        (),
                        "is newer than any Kubernetes minor AKS offers",
                        version,
                        f"1.{MIN_KUBERNETES_MINOR} .. 1.{AKS_MAX_MINOR} (components/azure_catalog.py AKS_MAX_MINOR)",
                        f'set kubernetesVersion: "1.{AKS_MAX_MINOR}" or older',
                    )
                ]
            )
        return version

    @model_validator(mode="after")
    def _check(self) -> ClusterSpec:
        issues: list[Issue] = []
        minor = minor_of(self.kubernetes_version)
        for group, pool in self.gpu_pools.items():
            if not GROUP_KEY.match(group):
                issues.append(
                    Issue(
                        ("gpuPools", group),
                        f"pool group key must be 1-{GROUP_KEY_MAX} lowercase letters/digits starting with "
                        "a letter, so that '<key>blue' and '<key>green' fit AKS's 12-character pool names",
                        group,
                        rf"^[a-z][a-z0-9]{{0,{GROUP_KEY_MAX - 1}}}$",
                        "rename the group, e.g. a100 or h100",
                    )
                )
            for colour, slot in pool.slots.items():
                if slot.kubernetes_version and minor_of(slot.kubernetes_version) > minor:
                    issues.append(
                        Issue(
                            ("gpuPools", group, "slots", colour, "kubernetesVersion"),
                            "may not be newer than the control plane",
                            slot.kubernetes_version,
                            f"<= {self.kubernetes_version}",
                            "upgrade the cluster's kubernetesVersion first",
                        )
                    )
                if slot.kubernetes_version and minor - minor_of(slot.kubernetes_version) > 3:
                    issues.append(
                        Issue(
                            ("gpuPools", group, "slots", colour, "kubernetesVersion"),
                            "is more than three minors behind the control plane",
                            slot.kubernetes_version,
                            f"1.{minor - 3} .. {self.kubernetes_version}",
                            "upgrade this slot through the other colour",
                        )
                    )
        raise_issues(issues)
        return self


@dataclass(frozen=True)
class ClusterArgs:
    key: str
    """The stable id of the cluster in stack configuration (``clusters.<key>``)."""
    environment: str
    spec: ClusterSpec
    tags: dict[str, str]
    upgrade_channel: str
    """Effective auto-upgrade channel (``none`` when Fleet drives upgrades)."""
    versions_managed_externally: bool = False
    """Fleet auto-upgrade or the cluster's own ``rapid``/``stable`` channel moves the minor: Pulumi then ignores
    ``kubernetesVersion`` and every ``orchestratorVersion`` (components/fleet/ ``versions_managed_externally``)."""
    azure_monitor_profile: azure_native.containerservice.ManagedClusterAzureMonitorProfileArgs | None = None
    addon_profiles: dict[str, azure_native.containerservice.ManagedClusterAddonProfileArgs] = field(
        default_factory=dict
    )
    """Add-ons other components own (observability's ``omsagent``: Container insights), beside ``azurepolicy``."""
    defender_workspace_id: pulumi.Input[str] | None = None
    """The stack's Log Analytics workspace for Defender (``monitoring.logs.defender``), unless
    ``security.defenderLogAnalyticsWorkspaceId`` names one."""
    kubelogin: KubeloginMode = "azurecli"
    protect: bool = False
    name_prefix: str = "aiplat"
    ai_toolchain_operator: bool = False
    """``aiToolchainOperatorProfile.enabled``: the AKS AI toolchain operator add-on (KAITO CRDs and controllers)."""


@dataclass
class ClusterHandle:
    """What in-cluster and Azure-side components need to know about one built cluster."""

    key: str
    name: str
    location: str
    kubernetes_version: str
    resource_group_name: pulumi.Output[str]
    cluster: azure_native.containerservice.ManagedCluster
    cluster_id: pulumi.Output[str]
    provider: k8s.Provider
    spec: ClusterSpec
    gpu_slots: list[GpuSlot] = field(default_factory=list)
    gpu_pool_resources: list[pulumi.Resource] = field(default_factory=list)
    weight_cache: WeightCacheHandle | None = None
    """The cluster's weight cache storage when ``weightCache.enabled``."""


class AksCluster(pulumi.ComponentResource):
    """One AKS cluster with its resource group, network, identity, GPU pools and Kubernetes provider."""

    handle: ClusterHandle
    kubeconfig: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:AksCluster", name, None, opts)
        spec = args.spec
        cs = azure_native.containerservice
        base = (args.name_prefix, args.environment, args.key)
        defender_workspace = spec.security.defender_log_analytics_workspace_id or args.defender_workspace_id
        addons = {
            **({"azurepolicy": cs.ManagedClusterAddonProfileArgs(enabled=True)} if spec.security.azure_policy else {}),
            **args.addon_profiles,
        }
        protect = pulumi.ResourceOptions(parent=self, protect=args.protect)

        rg = azure_native.resources.ResourceGroup(
            f"{name}-rg",
            resource_group_name=azure_name("rg", *base, max_len=90),
            location=spec.location,
            tags=args.tags,
            opts=protect,
        )
        network = Network(
            f"{name}-network",
            NetworkArgs(rg.name, spec.location, azure_name("vnet", *base, max_len=64), spec.network, args.tags),
            pulumi.ResourceOptions(parent=self),
        )
        identity = azure_native.managedidentity.UserAssignedIdentity(
            f"{name}-identity",
            resource_group_name=rg.name,
            location=spec.location,
            resource_name_=azure_name("id", *base, max_len=128),
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        client = azure_native.authorization.get_client_config_output()
        subnet_role = role_assignment(
            f"{name}-subnet-network-contributor",
            scope=network.subnet_id,
            role="Network Contributor",
            principal_id=identity.principal_id,
            principal_type="ServicePrincipal",
            subscription_id=client.subscription_id,
            parent=self,
        )

        cluster_name = azure_name("aks", *base, max_len=63)
        cluster = cs.ManagedCluster(
            f"{name}-aks",
            resource_group_name=rg.name,
            resource_name_=cluster_name,
            location=spec.location,
            dns_prefix=azure_name(*base, max_len=54),
            kubernetes_version=spec.kubernetes_version,
            node_resource_group=azure_name("rg", *base, "nodes", max_len=80),
            sku=cs.ManagedClusterSKUArgs(name=cs.ManagedClusterSKUName.BASE, tier=spec.tier),
            identity=cs.ManagedClusterIdentityArgs(
                type=cs.ResourceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[identity.id],
            ),
            aad_profile=cs.ManagedClusterAADProfileArgs(
                managed=True,
                enable_azure_rbac=True,
                admin_group_object_ids=[str(g) for g in spec.security.admin_group_object_ids] or None,
            ),
            enable_rbac=True,
            disable_local_accounts=not spec.security.local_accounts,
            oidc_issuer_profile=cs.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
            security_profile=cs.ManagedClusterSecurityProfileArgs(
                workload_identity=cs.ManagedClusterSecurityProfileWorkloadIdentityArgs(enabled=True),
                image_cleaner=cs.ManagedClusterSecurityProfileImageCleanerArgs(
                    enabled=spec.security.image_cleaner, interval_hours=48
                ),
                defender=cs.ManagedClusterSecurityProfileDefenderArgs(
                    log_analytics_workspace_resource_id=defender_workspace,
                    security_monitoring=cs.ManagedClusterSecurityProfileDefenderSecurityMonitoringArgs(enabled=True),
                )
                if defender_workspace is not None
                else None,
            ),
            api_server_access_profile=cs.ManagedClusterAPIServerAccessProfileArgs(
                enable_private_cluster=spec.api_server.private,
                authorized_ip_ranges=[str(r) for r in spec.api_server.authorized_ip_ranges] or None,
                disable_run_command=True,
            ),
            auto_upgrade_profile=cs.ManagedClusterAutoUpgradeProfileArgs(
                upgrade_channel=args.upgrade_channel,
                node_os_upgrade_channel=spec.upgrade.node_os_channel,
            ),
            network_profile=cs.ContainerServiceNetworkProfileArgs(
                network_plugin=cs.NetworkPlugin.AZURE,
                network_plugin_mode=cs.NetworkPluginMode.OVERLAY,
                network_dataplane=cs.NetworkDataplane.CILIUM,
                network_policy=cs.NetworkPolicy.CILIUM,
                pod_cidr=str(spec.network.pod_cidr),
                service_cidr=str(spec.network.service_cidr),
                dns_service_ip=str(spec.network.dns_service_ip),
                load_balancer_sku=cs.LoadBalancerSku.STANDARD,
                outbound_type=cs.OutboundType.LOAD_BALANCER,
                advanced_networking=cs.AdvancedNetworkingArgs(
                    enabled=spec.advanced_networking.observability or spec.advanced_networking.security,
                    observability=cs.AdvancedNetworkingObservabilityArgs(
                        enabled=spec.advanced_networking.observability
                    ),
                    security=cs.AdvancedNetworkingSecurityArgs(
                        enabled=spec.advanced_networking.security,
                        advanced_network_policies=spec.advanced_networking.policies
                        if spec.advanced_networking.security
                        else cs.AdvancedNetworkPolicies.NONE,
                    ),
                ),
            ),
            addon_profiles=addons or None,
            azure_monitor_profile=args.azure_monitor_profile,
            # KAITO as the managed add-on (ARM aiToolchainOperatorProfile, in the SDK's default API version); unset
            # when off, so clusters without it send what they did before.
            ai_toolchain_operator_profile=cs.ManagedClusterAIToolchainOperatorProfileArgs(enabled=True)
            if args.ai_toolchain_operator
            else None,
            # The AKS-managed Azure Blob CSI driver mounts the weight cache (only when it is on).
            storage_profile=cs.ManagedClusterStorageProfileArgs(
                blob_csi_driver=cs.ManagedClusterStorageProfileBlobCSIDriverArgs(enabled=True)
            )
            if spec.weight_cache.enabled
            else None,
            agent_pool_profiles=[
                cs.ManagedClusterAgentPoolProfileArgs(
                    name="system",
                    mode=cs.AgentPoolMode.SYSTEM,
                    os_type=cs.OSType.LINUX,
                    os_sku=cs.OSSKU.AZURE_LINUX,
                    vm_size=spec.system_pool.vm_size,
                    enable_auto_scaling=True,
                    min_count=spec.system_pool.min_count,
                    max_count=spec.system_pool.max_count,
                    count=spec.system_pool.min_count,
                    availability_zones=spec.system_pool.zones,
                    os_disk_type=spec.system_pool.os_disk_type,
                    vnet_subnet_id=network.subnet_id,
                    node_taints=[SYSTEM_TAINT.aks()],
                    enable_node_public_ip=False,
                    enable_encryption_at_host=spec.security.encryption_at_host,
                    max_pods=110,
                    upgrade_settings=cs.AgentPoolUpgradeSettingsArgs(max_surge="33%"),
                )
            ],
            tags=args.tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.protect,
                depends_on=[subnet_role],
                # azure-native PUTs the whole body on every update, so a pinned "1.34" re-sent after Fleet (or the
                # rapid/stable channel) moved the cluster to 1.35 is a downgrade AKS rejects. With versions managed
                # externally the engine sends the value in the state instead (Pulumi docs, ignoreChanges; property
                # paths accept `[*]`): run `pulumi up --refresh` so the state holds the live version (azure-native
                # refresh updates inputs, pulumi-azure-native#280). The program's version still seeds the create.
                ignore_changes=[
                    "agentPoolProfiles[0].count",
                    *(
                        ["kubernetesVersion", "agentPoolProfiles[*].orchestratorVersion"]
                        if args.versions_managed_externally
                        else []
                    ),
                ],
                custom_timeouts=pulumi.CustomTimeouts(create="60m", update="90m", delete="60m"),
            ),
        )

        # Operators reach the API server through Entra ID groups: members of aadProfile.adminGroupObjectIDs are
        # bound to cluster-admin when the cluster is created; the Azure role below also covers them.
        admin_roles: list[pulumi.Resource] = [
            role_assignment(
                f"{name}-admins-{str(group_id)[:8]}",
                scope=cluster.id,
                role="Azure Kubernetes Service RBAC Cluster Admin",
                principal_id=str(group_id),
                principal_type="Group",
                subscription_id=client.subscription_id,
                parent=self,
            )
            for group_id in spec.security.admin_group_object_ids
        ]
        # The identity running `pulumi up` gets cluster admin too, unless it is in one of the groups: with local
        # accounts off and Azure RBAC on, Owner/Contributor have no Kubernetes data actions. The grant reaches
        # the AKS authorizer only minutes after its ARM write, hence the wait after it (components/access.py).
        if spec.security.grant_deployer_cluster_admin:
            admin_roles += deployer_cluster_admin(
                name,
                cluster_id=cluster.id,
                principal_id=client.object_id,
                principal_type=spec.security.deployer_principal_type or PRINCIPAL_TYPE_BY_LOGIN[args.kubelogin],
                subscription_id=client.subscription_id,
                delay_seconds=spec.security.rbac_propagation_seconds,
                parent=self,
            )

        pools = BlueGreenGpuPools(
            f"{name}-gpu",
            GpuPoolsArgs(
                resource_group_name=rg.name,
                cluster_name=cluster.name,
                cluster_version=spec.kubernetes_version,
                groups=spec.gpu_pools,
                subnet_id=network.subnet_id,
                tags=args.tags,
                encryption_at_host=spec.security.encryption_at_host,
                versions_managed_externally=args.versions_managed_externally,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[cluster]),
        )

        weight_cache = None
        if spec.weight_cache.enabled:
            weight_cache = WeightCacheStorage(
                f"{name}-weight-cache",
                WeightCacheStorageArgs(
                    cluster=args.key,
                    environment=args.environment,
                    name_prefix=args.name_prefix,
                    spec=spec.weight_cache,
                    resource_group_name=azure_name("rg", *base, max_len=90),
                    resource_group=rg.name,
                    location=spec.location,
                    subnet_id=network.subnet_id,
                    subscription_id=client.subscription_id,
                    tags=args.tags,
                    protect=args.protect,
                ),
                pulumi.ResourceOptions(parent=self),
            ).handle

        credentials = cs.list_managed_cluster_user_credentials_output(
            resource_group_name=rg.name,
            resource_name=cluster.name,
            format="exec",
            opts=pulumi.InvokeOutputOptions(depends_on=[cluster]),
        )
        self.kubeconfig = pulumi.Output.secret(
            credentials.kubeconfigs[0].value.apply(lambda v: kubelogin_kubeconfig(v, args.kubelogin))
        )
        provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            delete_unreachable=False,
            # The kubeconfig comes from an invoke, whose wait on the cluster is invisible in a preview:
            # name the cluster so the engine (and the plan's critical path) see the edge. admin_roles holds the
            # role assignments that give the deployer API access and the RBAC propagation wait after them, so
            # no Kubernetes object (nor the provider's discovery) runs before the grant applies.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster, *admin_roles]),
        )
        self.oidc_issuer_url = cluster.oidc_issuer_profile.apply(lambda p: p.issuer_url if p else "")
        self.handle = ClusterHandle(
            key=args.key,
            name=cluster_name,
            location=spec.location,
            kubernetes_version=spec.kubernetes_version,
            resource_group_name=rg.name,
            cluster=cluster,
            cluster_id=cluster.id,
            provider=provider,
            spec=spec,
            gpu_slots=pools.slots,
            gpu_pool_resources=list(pools.pools.values()),
            weight_cache=weight_cache,
        )
        self.register_outputs({"clusterName": cluster.name, "oidcIssuerUrl": self.oidc_issuer_url})


def kubelogin_kubeconfig(encoded: str, login: str) -> str:
    """Turn AKS's ``format=exec`` user kubeconfig into one whose exec plugin logs in non-interactively.

    AKS returns ``kubelogin get-token --login devicecode ...``; Pulumi must never prompt, so the login
    mode becomes ``azurecli`` (workstations) or ``workloadidentity`` (CI with OIDC federation).
    """
    document: dict[str, Any] = yaml.safe_load(base64.b64decode(encoded).decode())
    for user in document.get("users", []):
        exec_config = user.get("user", {}).get("exec")
        if exec_config is None:
            continue
        exec_config["command"] = "kubelogin"
        exec_config["args"] = ["get-token", "--login", login, "--server-id", AKS_AAD_SERVER_ID]
        exec_config["interactiveMode"] = "Never"
        exec_config.pop("env", None)
    return yaml.safe_dump(document, sort_keys=False)
