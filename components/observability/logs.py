"""Logs: the stack's Log Analytics workspace, Container insights and control-plane diagnostics per cluster.

Builds (``ai-platform:monitoring.logs``, off by default, required in staging and prod):

- :class:`LogWorkspace`, before the clusters (their ``addonProfiles.omsagent`` and Defender profile name it):
  resource group ``rg-<prefix>-<env>-logs`` and a ``PerGB2018`` workspace with ``retentionDays``, local
  (shared-key) auth disabled (unless ``defender``, whose sensor still needs keys) and resource-permission access,
  so Container insights' agent authenticates with Entra ID (``useAADAuth``) and readers need Azure RBAC on the
  workspace or on the cluster.
- per monitored cluster (:func:`attach_cluster_logs`, children of ``Observability``):
  - a data collection rule ``MSCI-<region>-<cluster>`` (kind Linux) with the ``ContainerInsights`` extension data
    source (``enableContainerLogV2``) and a ``logAnalytics`` destination, and its association named
    ``ContainerInsightsExtension`` on the cluster. Shapes and names follow Microsoft's onboarding template
    (microsoft/Docker-Provider ``scripts/onboarding/aks/onboarding-using-msi-auth/existingClusterOnboarding.json``);
  - a diagnostic setting on the ``ManagedCluster`` sending the configured resource-log categories (default
    ``kube-audit-admin``, ``guard``, ``kube-controller-manager``, ``kube-apiserver``, ``cluster-autoscaler``) to the
    workspace in resource-specific tables (``logAnalyticsDestinationType: Dedicated``: ``AKSAuditAdmin``,
    ``AKSControlPlane``).

Run time: the addon profile is part of the cluster's own PUT (created with the cluster); the rule association
and the diagnostic setting are separate ARM resources scoped to the cluster, created after it. The agent starts
sending once the association exists (minutes after ``pulumi up``). Retention changes are in-place updates.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_azure_native as azure_native

from components._common import TYPE_PREFIX, azure_name
from components.observability.spec import (
    CONTAINER_INSIGHTS_DATA_SOURCE,
    CONTAINER_INSIGHTS_EXTENSION,
    CONTAINER_INSIGHTS_STREAMS,
    LOG_ANALYTICS_DESTINATION,
    LogsSpec,
)

DCR_NAME_MAX = 64


def omsagent_addon(workspace_id: pulumi.Input[str]) -> azure_native.containerservice.ManagedClusterAddonProfileArgs:
    """The cluster's ``addonProfiles.omsagent``: Container insights with Entra ID (managed identity) auth."""
    return azure_native.containerservice.ManagedClusterAddonProfileArgs(
        enabled=True,
        config={"logAnalyticsWorkspaceResourceID": workspace_id, "useAADAuth": "true"},
    )


def container_insights_rule_name(region: str, cluster_name: str) -> str:
    """``MSCI-<region>-<cluster>``, as Azure names it, cut to 64 characters with a hash."""
    return "MSCI-" + azure_name(region, cluster_name, max_len=DCR_NAME_MAX - len("MSCI-"))


def container_insights_settings() -> dict[str, object]:
    return {
        "dataCollectionSettings": {
            "interval": "1m",
            "namespaceFilteringMode": "Off",
            "enableContainerLogV2": True,
        }
    }


@dataclass(frozen=True)
class LogWorkspaceArgs:
    spec: LogsSpec
    environment: str
    location: str
    name_prefix: str
    tags: dict[str, str]
    protect: bool = False


class LogWorkspace(pulumi.ComponentResource):
    """The stack's Log Analytics workspace (container logs, control-plane logs, Defender)."""

    workspace_id: pulumi.Output[str]
    location: str

    def __init__(self, name: str, args: LogWorkspaceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:LogWorkspace", name, None, opts)
        oi = azure_native.operationalinsights
        base = (args.name_prefix, args.environment)
        rg = azure_native.resources.ResourceGroup(
            f"{name}-rg",
            resource_group_name=azure_name("rg", *base, "logs", max_len=90),
            location=args.location,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        workspace = oi.Workspace(
            f"{name}-workspace",
            resource_group_name=rg.name,
            location=args.location,
            workspace_name=azure_name("log", *base, max_len=63),
            sku=oi.WorkspaceSkuArgs(name=oi.WorkspaceSkuNameEnum.PER_GB2018),
            retention_in_days=args.spec.retention_days,
            features=oi.WorkspaceFeaturesArgs(
                # Defender for Containers' publisher pods still log in with workspace keys
                # (Azure/Microsoft-Defender-for-Cloud#1010): keys stay on only when Defender reports here.
                disable_local_auth=not args.spec.defender,
                enable_log_access_using_only_resource_permissions=True,
            ),
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        self.workspace_id = workspace.id
        self.location = args.location
        self.register_outputs({"workspaceId": workspace.id})


def attach_cluster_logs(
    name: str,
    *,
    spec: LogsSpec,
    cluster_name: str,
    cluster_id: pulumi.Input[str],
    workspace_id: pulumi.Input[str],
    workspace_region: str,
    resource_group_name: pulumi.Input[str],
    tags: dict[str, str],
    parent: pulumi.Resource,
) -> list[pulumi.Resource]:
    """Container insights' rule and association (when ``containerLogs``) and the control-plane diagnostic setting."""
    mon = azure_native.monitor
    child = pulumi.ResourceOptions(parent=parent)
    built: list[pulumi.Resource] = []
    if spec.container_logs:
        streams = list(CONTAINER_INSIGHTS_STREAMS)
        dcr = mon.DataCollectionRule(
            f"{name}-ci-dcr",
            resource_group_name=resource_group_name,
            location=workspace_region,
            data_collection_rule_name=container_insights_rule_name(workspace_region, cluster_name),
            kind=mon.KnownDataCollectionRuleResourceKind.LINUX,
            description="Container insights: container logs (ContainerLogV2), events and inventory",
            data_sources=mon.DataCollectionRuleDataSourcesArgs(
                extensions=[
                    mon.ExtensionDataSourceArgs(
                        name=CONTAINER_INSIGHTS_DATA_SOURCE,
                        extension_name=CONTAINER_INSIGHTS_EXTENSION,
                        streams=streams,
                        extension_settings=container_insights_settings(),
                    )
                ]
            ),
            destinations=mon.DataCollectionRuleDestinationsArgs(
                log_analytics=[
                    mon.LogAnalyticsDestinationArgs(workspace_resource_id=workspace_id, name=LOG_ANALYTICS_DESTINATION)
                ]
            ),
            data_flows=[mon.DataFlowArgs(streams=streams, destinations=[LOG_ANALYTICS_DESTINATION])],
            tags=tags,
            opts=child,
        )
        association = mon.DataCollectionRuleAssociation(
            f"{name}-ci-dcra",
            resource_uri=cluster_id,
            association_name=CONTAINER_INSIGHTS_DATA_SOURCE,
            data_collection_rule_id=dcr.id,
            description="Association of data collection rule. Deleting this association will break the data "
            "collection for this AKS Cluster.",
            opts=child,
        )
        built += [dcr, association]
    if spec.control_plane:
        built.append(
            mon.DiagnosticSetting(
                f"{name}-diagnostics",
                resource_uri=cluster_id,
                name=azure_name("diag", cluster_name, "logs", max_len=260),
                workspace_id=workspace_id,
                log_analytics_destination_type="Dedicated",
                logs=[mon.DiagnosticsLogSettingsArgs(category=c, enabled=True) for c in spec.control_plane],
                opts=child,
            )
        )
    return built
