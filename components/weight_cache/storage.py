"""The Azure side of a cluster's weight cache: a locked-down storage account, its container, a private endpoint
with its DNS, and the two identities that may read or write it.

Built by :class:`components.cluster.AksCluster` (a cluster part, like its network) when
``clusters.<c>.weightCache.enabled``:

- ``StorageAccount`` (``st<prefix><env><cluster>wc``): ``publicNetworkAccess: Disabled`` with a ``Deny`` network
  rule set, no shared keys (``allowSharedKeyAccess: false``: every request carries an Entra ID token), no
  anonymous blob access, HTTPS only, TLS >= 1.2, OAuth as the default. Azure Storage encrypts all data at rest
  with Microsoft-managed keys (it cannot be switched off); nothing else is claimed.
- ``BlobContainer`` ``weights`` (private).
- ``PrivateEndpoint`` (sub-resource ``blob``) in the node subnet, the ``privatelink.blob.core.windows.net``
  ``PrivateZone`` linked to the cluster's VNet and a ``PrivateDnsZoneGroup``, so nodes resolve the account to
  its private address (the BlobFuse2 mounts run on the nodes).
- Two ``UserAssignedIdentity``s: the reader (``Storage Blob Data Reader`` on the container) and the writer
  (``Storage Blob Data Contributor`` on the container). Their federated credentials name the service accounts
  of the namespaces that use them; they are created with the in-cluster objects
  (components/serving/cache.py), which know those namespaces.

The account is ``protect``ed with the stack's ``protect`` (prod), like every stateful resource (policy
``protect-stateful``): switching the cache off in a protected stack first needs ``pulumi state unprotect`` of the
account. Its contents can always be rebuilt from Hugging Face by the fill Jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_azure_native as azure_native

from components._common import TYPE_PREFIX, azure_name, role_assignment
from components.weight_cache.spec import CONTAINER, WeightCacheSpec, account_kind, account_name

BLOB_PRIVATE_ZONE = "privatelink.blob.core.windows.net"
"""Azure's private DNS zone for the blob sub-resource (learn.microsoft.com/azure/private-link/private-endpoint-dns)."""
READER_ROLE = "Storage Blob Data Reader"
WRITER_ROLE = "Storage Blob Data Contributor"


@dataclass(frozen=True)
class WeightCacheStorageArgs:
    cluster: str
    """The cluster's key (``clusters.<key>``)."""
    environment: str
    name_prefix: str
    spec: WeightCacheSpec
    resource_group_name: str
    """The cluster's resource group (a known name: the PersistentVolumes carry it)."""
    resource_group: pulumi.Input[str]
    """The same group as an Output of the ResourceGroup (so the account waits for it)."""
    location: str
    subnet_id: pulumi.Input[str]
    """The node subnet: the private endpoint's subnet; its VNet gets the DNS zone link."""
    subscription_id: pulumi.Input[str]
    tags: dict[str, str] = field(default_factory=dict)
    protect: bool = False


@dataclass
class WeightCacheHandle:
    """What the in-cluster half (PersistentVolumes, federated credentials, fill Jobs) needs."""

    resource_group_name: str
    account_name: str
    container: str
    reader: azure_native.managedidentity.UserAssignedIdentity
    writer: azure_native.managedidentity.UserAssignedIdentity
    ready: list[pulumi.Resource]
    """Role assignments and the private endpoint's DNS: a mount before these exist fails."""


class WeightCacheStorage(pulumi.ComponentResource):
    handle: WeightCacheHandle

    def __init__(self, name: str, args: WeightCacheStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:WeightCacheStorage", name, None, opts)
        st = azure_native.storage
        child = pulumi.ResourceOptions(parent=self)
        base = (args.name_prefix, args.environment, args.cluster)
        account = st.StorageAccount(
            f"{name}-account",
            account_name=account_name(*base),
            resource_group_name=args.resource_group,
            location=args.location,
            kind=account_kind(args.spec.sku),
            sku=st.SkuArgs(name=args.spec.sku),
            public_network_access=st.PublicNetworkAccess.DISABLED,
            network_rule_set=st.NetworkRuleSetArgs(default_action=st.DefaultAction.DENY, bypass=st.Bypass.NONE),
            allow_shared_key_access=False,
            allow_blob_public_access=False,
            enable_https_traffic_only=True,
            minimum_tls_version=st.MinimumTlsVersion.TLS1_2,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        container = st.BlobContainer(
            f"{name}-container",
            account_name=account.name,
            resource_group_name=args.resource_group,
            container_name=CONTAINER,
            public_access=st.PublicAccess.NONE,
            opts=child,
        )
        zone = azure_native.privatedns.PrivateZone(
            f"{name}-dns",
            private_zone_name=BLOB_PRIVATE_ZONE,
            resource_group_name=args.resource_group,
            location="global",
            tags=args.tags,
            opts=child,
        )
        vnet_id = pulumi.Output.from_input(args.subnet_id).apply(lambda s: s.split("/subnets/")[0])
        link = azure_native.privatedns.VirtualNetworkLink(
            f"{name}-dns-link",
            private_zone_name=zone.name,
            resource_group_name=args.resource_group,
            virtual_network_link_name=azure_name("vnl", *base, "blob", max_len=80),
            location="global",
            registration_enabled=False,
            virtual_network=azure_native.privatedns.SubResourceArgs(id=vnet_id),
            tags=args.tags,
            opts=child,
        )
        endpoint_name = azure_name("pe", *base, "weights", max_len=64)
        endpoint = azure_native.network.PrivateEndpoint(
            f"{name}-endpoint",
            private_endpoint_name=endpoint_name,
            resource_group_name=args.resource_group,
            location=args.location,
            subnet=azure_native.network.SubnetArgs(id=args.subnet_id),
            private_link_service_connections=[
                azure_native.network.PrivateLinkServiceConnectionArgs(
                    name=f"{endpoint_name}-blob", private_link_service_id=account.id, group_ids=["blob"]
                )
            ],
            tags=args.tags,
            opts=child,
        )
        zone_group = azure_native.network.PrivateDnsZoneGroup(
            f"{name}-dns-group",
            private_endpoint_name=endpoint.name,
            resource_group_name=args.resource_group,
            private_dns_zone_group_name="default",
            private_dns_zone_configs=[
                azure_native.network.PrivateDnsZoneConfigArgs(name="blob", private_dns_zone_id=zone.id)
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[link]),
        )
        identities = {}
        for role_noun in ("reader", "writer"):
            identities[role_noun] = azure_native.managedidentity.UserAssignedIdentity(
                f"{name}-{role_noun}",
                resource_group_name=args.resource_group,
                location=args.location,
                resource_name_=azure_name("id", *base, f"weights-{role_noun}", max_len=128),
                tags=args.tags,
                opts=child,
            )
        scope = pulumi.Output.concat(account.id, "/blobServices/default/containers/", container.name)
        grants = [
            role_assignment(
                f"{name}-{role_noun}-role",
                scope=scope,
                role=role,
                principal_id=identities[role_noun].principal_id,
                principal_type="ServicePrincipal",
                subscription_id=args.subscription_id,
                parent=self,
            )
            for role_noun, role in (("reader", READER_ROLE), ("writer", WRITER_ROLE))
        ]
        self.handle = WeightCacheHandle(
            resource_group_name=args.resource_group_name,
            account_name=account_name(*base),
            container=CONTAINER,
            reader=identities["reader"],
            writer=identities["writer"],
            ready=[container, zone_group, *grants],
        )
        self.register_outputs({"accountName": account.name, "container": container.name})
