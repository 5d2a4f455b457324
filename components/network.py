"""Per-cluster network: a VNet with a node subnet, or an existing subnet supplied by id.

Azure CNI overlay gives pods addresses from ``podCidr``, which never touches the VNet, so the VNet only
needs room for nodes (and, for a private cluster, nothing else: AKS creates the private endpoint).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Annotated

import pulumi
import pulumi_azure_native as azure_native
from pydantic import Field, model_validator

from components._common import TYPE_PREFIX, Issue, Spec, raise_issues, resource_id_pattern

SUBNET_ID = resource_id_pattern("Microsoft.Network", "virtualNetworks", "subnets")

PRIVATE_RANGES = (
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv4Network("172.16.0.0/12"),
    ipaddress.IPv4Network("192.168.0.0/16"),
    ipaddress.IPv4Network("100.64.0.0/10"),
)
"""Address ranges a VNet and the overlay ranges may use: RFC 1918 and RFC 6598 shared address space (the Azure
Virtual Network FAQ, learn.microsoft.com/azure/virtual-network/virtual-networks-faq, 'What address ranges can I
use in my VNets?': RFC 1918 ranges, and RFC 6598 100.64.0.0/10 is treated as private). Azure accepts public
ranges in a VNet, but then routes them inside the VNet: the real owners of those addresses become unreachable
from the cluster."""


class NetworkSpec(Spec):
    vnet_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.10.0.0/16")
    node_subnet_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.10.0.0/20")
    pod_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("192.168.0.0/16")
    service_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("172.16.0.0/16")
    dns_service_ip: ipaddress.IPv4Address = ipaddress.IPv4Address("172.16.0.10")
    existing_subnet_id: Annotated[str | None, Field(default=None)] = None
    """Use this subnet instead of creating a VNet (hub-and-spoke landing zones)."""

    @model_validator(mode="after")
    def _check(self) -> NetworkSpec:
        issues: list[Issue] = []
        if self.existing_subnet_id is not None and not SUBNET_ID.match(self.existing_subnet_id):
            issues.append(
                Issue(
                    ("existingSubnetId",),
                    "is not a subnet resource id",
                    self.existing_subnet_id,
                    "/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Network/"
                    "virtualNetworks/<vnet>/subnets/<subnet>",
                    "copy the id from `az network vnet subnet show --query id`",
                )
            )
        if self.existing_subnet_id is None and not self.node_subnet_cidr.subnet_of(self.vnet_cidr):
            issues.append(
                Issue(
                    ("nodeSubnetCidr",),
                    "must lie inside vnetCidr",
                    str(self.node_subnet_cidr),
                    f"a subnet of {self.vnet_cidr}",
                    "pick a node subnet inside the VNet range",
                )
            )
        ranges = {"vnetCidr": self.vnet_cidr, "podCidr": self.pod_cidr, "serviceCidr": self.service_cidr}
        for key, net in ranges.items():
            if key == "vnetCidr" and self.existing_subnet_id is not None:
                continue
            if not any(net.subnet_of(private) for private in PRIVATE_RANGES):
                issues.append(
                    Issue(
                        (key,),
                        "is not a private address range",
                        str(net),
                        "inside " + ", ".join(str(r) for r in PRIVATE_RANGES),
                        f"use a private {key}, e.g. 10.20.0.0/16",
                    )
                )
        keys = list(ranges)
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                if ranges[a].overlaps(ranges[b]):
                    issues.append(
                        Issue(
                            (b,),
                            f"overlaps {a} ({ranges[a]})",
                            str(ranges[b]),
                            "non-overlapping private ranges",
                            f"choose a {b} that does not overlap {a}",
                        )
                    )
        if self.dns_service_ip not in self.service_cidr:
            issues.append(
                Issue(
                    ("dnsServiceIp",),
                    "must lie inside serviceCidr",
                    str(self.dns_service_ip),
                    f"an address in {self.service_cidr}",
                    "use the .10 address of serviceCidr",
                )
            )
        elif self.dns_service_ip == self.service_cidr.network_address:
            issues.append(
                Issue(
                    ("dnsServiceIp",),
                    "cannot be the network address of serviceCidr",
                    str(self.dns_service_ip),
                    f"an address in {self.service_cidr}",
                    "use the .10 address of serviceCidr",
                )
            )
        if self.node_subnet_cidr.prefixlen > 24:
            issues.append(
                Issue(
                    ("nodeSubnetCidr",),
                    "is too small for GPU pools with surge and blue-green slots",
                    str(self.node_subnet_cidr),
                    "/24 or larger",
                    "use a /24 or larger node subnet",
                )
            )
        raise_issues(issues)
        return self


@dataclass(frozen=True)
class NetworkArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    vnet_name: str
    spec: NetworkSpec
    tags: dict[str, str]


class Network(pulumi.ComponentResource):
    """The VNet and node subnet of one cluster (nothing when an existing subnet id is configured)."""

    subnet_id: pulumi.Output[str]
    vnet: azure_native.network.VirtualNetwork | None
    subnet: azure_native.network.Subnet | None

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:Network", name, None, opts)
        spec = args.spec
        if spec.existing_subnet_id is not None:
            self.vnet = None
            self.subnet = None
            self.subnet_id = pulumi.Output.from_input(spec.existing_subnet_id)
        else:
            self.vnet = azure_native.network.VirtualNetwork(
                f"{name}-vnet",
                resource_group_name=args.resource_group_name,
                location=args.location,
                virtual_network_name=args.vnet_name,
                address_space=azure_native.network.AddressSpaceArgs(address_prefixes=[str(spec.vnet_cidr)]),
                tags=args.tags,
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=["subnets"]),
            )
            self.subnet = azure_native.network.Subnet(
                f"{name}-nodes",
                resource_group_name=args.resource_group_name,
                virtual_network_name=self.vnet.name,
                subnet_name="nodes",
                address_prefix=str(spec.node_subnet_cidr),
                private_endpoint_network_policies=azure_native.network.VirtualNetworkPrivateEndpointNetworkPolicies.ENABLED,
                default_outbound_access=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.subnet_id = self.subnet.id
        self.register_outputs({"subnetId": self.subnet_id})
