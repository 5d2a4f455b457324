"""Cluster security: the AKS controls that checkov's AKS checks, CIS AKS benchmark section 5 and Azure
Policy's AKS built-ins agree on. Each rule judges one ``ManagedCluster`` (or its pools) and treats an unset
property by its effective Azure default."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from policies.engine import AGENT_POOL, CLUSTER, UNKNOWN, UNSET, Finding, Resource, Rule, RuleContext, StackView
from policies.rules._util import at, expect, is_true, pools_of, problem, unknown

FLEET_MEMBER = "azure-native:containerservice:FleetMember"
FLEET_AUTO_UPGRADE = "azure-native:containerservice:AutoUpgradeProfile"


def entra_id(r: Resource, _: RuleContext) -> Iterator[Finding]:
    yield from expect(
        r,
        "aadProfile.managed",
        is_true,
        "true (Entra ID integration)",
        "set aadProfile.managed=true (the blueprint always does)",
        default_note="no Entra ID",
    )


def azure_rbac(r: Resource, _: RuleContext) -> Iterator[Finding]:
    yield from expect(
        r,
        "aadProfile.enableAzureRBAC",
        is_true,
        "true (Kubernetes authorization by Azure RBAC)",
        "set aadProfile.enableAzureRBAC=true and grant roles to Entra groups",
        default_note="false",
    )


def kubernetes_rbac(r: Resource, _: RuleContext) -> Iterator[Finding]:
    yield from expect(r, "enableRBAC", is_true, "true", "remove enableRBAC=false (RBAC is on by default)", default=True)


def local_accounts(r: Resource, _: RuleContext) -> Iterator[Finding]:
    yield from expect(
        r,
        "disableLocalAccounts",
        is_true,
        "true (no static admin kubeconfig)",
        "set security.localAccounts: false in the stack file",
        default_note="false, local admin on",
    )


def _open_range(cidr: Any) -> bool:
    try:
        return ipaddress.ip_network(str(cidr), strict=False).prefixlen == 0
    except ValueError:
        return True


def api_server_restricted(r: Resource, _: RuleContext) -> Iterator[Finding]:
    private = r.get("apiServerAccessProfile.enablePrivateCluster", False)
    ranges = r.get("apiServerAccessProfile.authorizedIPRanges", [])
    expected = "a private API server or a non-empty authorizedIPRanges without 0.0.0.0/0"
    if private is True:
        return
    if private is UNKNOWN or ranges is UNKNOWN:
        yield unknown(r, "apiServerAccessProfile", expected)
        return
    if not isinstance(ranges, list) or not ranges:
        yield problem(
            r,
            "apiServerAccessProfile.authorizedIPRanges",
            r.get("apiServerAccessProfile.authorizedIPRanges"),
            expected,
            "set apiServer.private: true, or list your egress ranges in apiServer.authorizedIpRanges",
            default_note="none, API server open to the internet",
        )
    elif any(_open_range(c) for c in ranges):
        yield problem(
            r,
            "apiServerAccessProfile.authorizedIPRanges",
            ranges,
            expected,
            "replace 0.0.0.0/0 with bounded egress ranges",
        )


def private_api_server(r: Resource, _: RuleContext) -> Iterator[Finding]:
    yield from expect(
        r,
        "apiServerAccessProfile.enablePrivateCluster",
        is_true,
        "true (private API server)",
        "set apiServer.private: true",
        default_note="false",
    )


def run_command_disabled(r: Resource, _: RuleContext) -> Iterator[Finding]:
    yield from expect(
        r,
        "apiServerAccessProfile.disableRunCommand",
        is_true,
        "true (no `az aks command invoke`)",
        "set apiServerAccessProfile.disableRunCommand=true",
        default_note="false",
    )


def network_policy(r: Resource, _: RuleContext) -> Iterator[Finding]:
    yield from expect(
        r,
        "networkProfile.networkPolicy",
        lambda v: v == "cilium",
        "'cilium'",
        "use networkPolicy=cilium with the cilium dataplane",
        default_note="none",
    )


def cilium_dataplane(r: Resource, _: RuleContext) -> Iterator[Finding]:
    yield from expect(
        r,
        "networkProfile.networkDataplane",
        lambda v: v == "cilium",
        "'cilium'",
        "set networkDataplane=cilium (Azure CNI powered by Cilium)",
        default_note="azure",
    )
    yield from expect(
        r,
        "networkProfile.networkPluginMode",
        lambda v: v == "overlay",
        "'overlay'",
        "set networkPlugin=azure with networkPluginMode=overlay",
        default_note="none",
    )


def oidc_issuer(r: Resource, _: RuleContext) -> Iterator[Finding]:
    yield from expect(
        r, "oidcIssuerProfile.enabled", is_true, "true", "set oidcIssuerProfile.enabled=true", default_note="false"
    )


def workload_identity(r: Resource, _: RuleContext) -> Iterator[Finding]:
    yield from expect(
        r,
        "securityProfile.workloadIdentity.enabled",
        is_true,
        "true",
        "set securityProfile.workloadIdentity.enabled=true (needs the OIDC issuer)",
        default_note="false",
    )


def _fleet_managed(stack: StackView, cluster: Resource) -> bool:
    members = [m for m in stack.of_type(FLEET_MEMBER) if stack.depends_on(m, cluster)]
    return bool(members) and bool(stack.of_type(FLEET_AUTO_UPGRADE))


def upgrade_channel(stack: StackView, _: RuleContext) -> Iterator[Finding]:
    for cluster in stack.clusters:
        value = cluster.get("autoUpgradeProfile.upgradeChannel", "none")
        if value is UNKNOWN:
            yield at(
                unknown(cluster, "autoUpgradeProfile.upgradeChannel", "a channel other than 'none'"),
                cluster.urn,
            )
        elif value == "none" and not _fleet_managed(stack, cluster):
            shown = UNSET if cluster.get("autoUpgradeProfile.upgradeChannel") is UNSET else value
            yield at(
                problem(
                    cluster,
                    "autoUpgradeProfile.upgradeChannel",
                    shown,
                    "patch, stable, rapid or node-image (or a Fleet auto-upgrade profile managing the cluster)",
                    "set upgrade.channel: patch, or join a Fleet with an auto-upgrade profile",
                    "none",
                ),
                cluster.urn,
            )


def node_os_channel(r: Resource, _: RuleContext) -> Iterator[Finding]:
    yield from expect(
        r,
        "autoUpgradeProfile.nodeOSUpgradeChannel",
        lambda v: v in ("NodeImage", "SecurityPatch"),
        "'NodeImage' or 'SecurityPatch'",
        "set upgrade.nodeOsChannel: NodeImage",
        default="NodeImage",
    )


def paid_tier(r: Resource, _: RuleContext) -> Iterator[Finding]:
    yield from expect(
        r,
        "sku.tier",
        lambda v: v in ("Standard", "Premium"),
        "'Standard' or 'Premium' (uptime SLA)",
        "set tier: Standard (or Premium for long-term support)",
        default_note="Free",
    )


def encryption_at_host(r: Resource, _: RuleContext) -> Iterator[Finding]:
    for prefix, pool in pools_of(r):
        yield from expect(
            r,
            "enableEncryptionAtHost",
            is_true,
            "true",
            "set security.encryptionAtHost: true",
            default_note="false",
            source=pool,
            prefix=prefix,
        )


def no_node_public_ip(r: Resource, _: RuleContext) -> Iterator[Finding]:
    for prefix, pool in pools_of(r):
        yield from expect(
            r,
            "enableNodePublicIP",
            lambda v: v is False,
            "false",
            "set enableNodePublicIP=false (egress through the load balancer)",
            default=False,
            source=pool,
            prefix=prefix,
        )


def _addon(r: Resource, name: str) -> Any:
    addons = r.get("addonProfiles", {})
    if addons is UNKNOWN or not isinstance(addons, dict):
        return UNKNOWN if addons is UNKNOWN else UNSET
    for key, value in addons.items():
        if key.lower() == name.lower():
            if value is None:
                return UNKNOWN
            enabled = value.get("enabled", UNSET) if isinstance(value, dict) else UNKNOWN
            return UNKNOWN if enabled is None else enabled
    return UNSET


def azure_policy_addon(r: Resource, _: RuleContext) -> Iterator[Finding]:
    value = _addon(r, "azurepolicy")
    expected = "true (Azure Policy add-on)"
    if value is UNKNOWN:
        yield unknown(r, "addonProfiles.azurepolicy.enabled", expected)
    elif value is not True:
        yield problem(
            r,
            "addonProfiles.azurepolicy.enabled",
            value,
            expected,
            "set security.azurePolicy: true",
            default_note="off",
        )


def defender(r: Resource, _: RuleContext) -> Iterator[Finding]:
    yield from expect(
        r,
        "securityProfile.defender.securityMonitoring.enabled",
        is_true,
        "true (Microsoft Defender for Containers)",
        "set monitoring.logs.defender: true (the stack's Log Analytics workspace), or "
        "security.defenderLogAnalyticsWorkspaceId to a Log Analytics workspace id",
        default_note="off",
    )


def image_cleaner(r: Resource, _: RuleContext) -> Iterator[Finding]:
    yield from expect(
        r,
        "securityProfile.imageCleaner.enabled",
        is_true,
        "true (stale images removed)",
        "set security.imageCleaner: true",
        default_note="off",
    )


def single_inline_pool(r: Resource, _: RuleContext) -> Iterator[Finding]:
    profiles = r.get("agentPoolProfiles", [])
    if profiles is UNKNOWN:
        yield unknown(r, "agentPoolProfiles", "exactly one inline pool of mode System")
        return
    modes = [p.get("mode") if isinstance(p, dict) else None for p in profiles] if isinstance(profiles, list) else []
    if len(modes) != 1 or modes[0] != "System":
        yield problem(
            r,
            "agentPoolProfiles",
            [{"mode": m} for m in modes],
            "exactly one inline pool of mode System",
            "keep only the system pool inline; declare every other pool as a containerservice.AgentPool",
        )


def _rule(
    id_: str, description: str, severity: str, enforcement: str, check: Any, types: tuple[str, ...] = (CLUSTER,)
) -> Rule:
    return Rule(id_, description, severity, enforcement, check, types=types)  # type: ignore[arg-type]


RULES: list[Rule] = [
    _rule("aks-entra-id", "AKS clusters use Entra ID integration (aadProfile.managed).", "high", "mandatory", entra_id),
    _rule(
        "aks-azure-rbac", "AKS clusters authorize Kubernetes access with Azure RBAC.", "high", "mandatory", azure_rbac
    ),
    _rule("aks-kubernetes-rbac", "Kubernetes RBAC stays enabled.", "critical", "mandatory", kubernetes_rbac),
    _rule(
        "aks-local-accounts-disabled",
        "Local (static admin) accounts are disabled.",
        "high",
        "mandatory",
        local_accounts,
    ),
    _rule(
        "aks-api-server-restricted",
        "The API server is private or limited to authorized IP ranges.",
        "high",
        "mandatory",
        api_server_restricted,
    ),
    _rule(
        "aks-api-server-private", "The API server is private (production).", "medium", "advisory", private_api_server
    ),
    _rule(
        "aks-run-command-disabled",
        "`az aks command invoke` (run command) is disabled.",
        "medium",
        "advisory",
        run_command_disabled,
    ),
    _rule("aks-network-policy-cilium", "Network policies are enforced by Cilium.", "high", "mandatory", network_policy),
    _rule(
        "aks-cilium-dataplane", "Azure CNI overlay with the Cilium dataplane.", "medium", "mandatory", cilium_dataplane
    ),
    _rule(
        "aks-oidc-issuer",
        "The OIDC issuer is enabled (workload identity federation).",
        "medium",
        "mandatory",
        oidc_issuer,
    ),
    _rule("aks-workload-identity", "Workload identity is enabled.", "medium", "mandatory", workload_identity),
    Rule(
        "aks-upgrade-channel",
        "Cluster auto-upgrade channel is not 'none' unless a Fleet auto-upgrade profile manages the cluster.",
        "medium",
        "mandatory",
        upgrade_channel,
        scope="stack",
    ),
    _rule(
        "aks-node-os-upgrade-channel",
        "Node OS images are patched automatically (NodeImage or SecurityPatch).",
        "medium",
        "mandatory",
        node_os_channel,
    ),
    _rule("aks-paid-tier", "Paid tier (Standard or Premium) with an uptime SLA.", "medium", "advisory", paid_tier),
    _rule(
        "aks-encryption-at-host",
        "Every node pool encrypts temp disks and caches at the host.",
        "high",
        "mandatory",
        encryption_at_host,
        (CLUSTER, AGENT_POOL),
    ),
    _rule(
        "aks-no-node-public-ip",
        "No node pool gives its nodes public IPs.",
        "high",
        "mandatory",
        no_node_public_ip,
        (CLUSTER, AGENT_POOL),
    ),
    _rule("aks-azure-policy-addon", "The Azure Policy add-on is enabled.", "medium", "mandatory", azure_policy_addon),
    _rule(
        "aks-defender",
        "Microsoft Defender for Containers is enabled (where the pack config asks).",
        "medium",
        "disabled",
        defender,
    ),
    _rule(
        "aks-image-cleaner",
        "Image Cleaner removes stale, vulnerable images from nodes.",
        "low",
        "advisory",
        image_cleaner,
    ),
    _rule(
        "aks-single-inline-pool",
        "Only the system pool is inline; other pools are AgentPool resources.",
        "medium",
        "mandatory",
        single_inline_pool,
    ),
]
