"""The ``Observability`` component: Azure Monitor workspaces, data collection, rule groups, alerts, Managed
Grafana and the DCGM exporter on every monitored cluster; with ``logs`` Container insights and control-plane
diagnostics to the stack's Log Analytics workspace (logs.py), with ``holmes`` HolmesGPT (holmes.py), with
``grafana.dashboards`` the dashboards deployed into Grafana (dashboards.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_azure_native as azure_native
import pulumi_kubernetes as k8s

from components._common import (
    TYPE_PREFIX,
    azure_name,
    role_assignment,
)
from components.facts import (
    DASHBOARDS_NAMESPACE,
    DCGM_NAMESPACE,
    HOLMES_NAMESPACE,
    WORKLOAD_IDENTITY_AUDIENCE,
)
from components.gpu_pools import GpuSlot
from components.observability.dashboards import (
    DASHBOARDS_SERVICE_ACCOUNT,
    dashboard_bodies,
    dashboards_configmap_object,
    dashboards_job_object,
    dashboards_namespace_object,
    dashboards_service_account_object,
)
from components.observability.holmes import (
    holmes_cluster_role_binding_object,
    holmes_cluster_role_object,
    holmes_namespace_object,
    holmes_service_account_object,
    holmes_values,
    openai_endpoint,
)
from components.observability.logs import attach_cluster_logs
from components.observability.objects import (
    dashboard_import_command,
    dcgm_exported,
    dcgm_namespace_object,
    dcgm_values,
    prom_name,
)
from components.observability.rules import rule_groups
from components.observability.spec import (
    CONFIG_ACCESS_ASSOCIATION,
    DASHBOARDS,
    DCGM_CHART,
    DCGM_REPO,
    HOLMES_CHART,
    HOLMES_REPO,
    HOLMES_SERVICE_ACCOUNT,
    MONITORING_ACCOUNT_DESTINATION,
    PROMETHEUS_DATA_SOURCE,
    PROMETHEUS_STREAM,
    MonitoringSpec,
)


@dataclass(frozen=True)
class MonitoredCluster:
    key: str
    name: str
    location: str
    cluster_id: pulumi.Input[str]
    provider: k8s.Provider
    gpu_slots: list[GpuSlot]
    oidc_issuer_url: pulumi.Input[str] | None = None
    """Issuer of the cluster's service-account tokens (workload identity of HolmesGPT and the dashboard job)."""


@dataclass(frozen=True)
class ObservabilityArgs:
    spec: MonitoringSpec
    environment: str
    location: str
    name_prefix: str
    clusters: list[MonitoredCluster]
    tags: dict[str, str]
    webhook_urls: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    protect: bool = False
    log_workspace_id: pulumi.Input[str] | None = None
    """The stack's Log Analytics workspace (``LogWorkspace``), when ``logs`` is on."""
    log_workspace_region: str | None = None


@dataclass
class _Workspace:
    region: str
    suffix: str
    """Of its children's logical names: empty with one workspace per stack, ``-<region>`` per region."""
    workspace: azure_native.monitor.AzureMonitorWorkspace
    dce: azure_native.monitor.DataCollectionEndpoint
    dcr: azure_native.monitor.DataCollectionRule


class Observability(pulumi.ComponentResource):
    """The stack's monitoring: workspaces, collection rules, rule groups, alerts, Grafana, GPU exporters."""

    workspace_ids: dict[str, pulumi.Output[str]]
    grafana_endpoint: pulumi.Output[str] | None
    dashboard_imports: dict[str, str]
    dashboard_job: k8s.batch.v1.Job | None
    holmes_releases: dict[str, k8s.helm.v3.Release]
    openai_endpoint: pulumi.Output[str] | None

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:Observability", name, None, opts)
        spec = args.spec
        mon = azure_native.monitor
        tags = {**args.tags, "monitoring-mode": "light" if spec.light else "full"}
        child = pulumi.ResourceOptions(parent=self)
        base = (args.name_prefix, args.environment)

        rg_name = azure_name("rg", *base, "monitoring", max_len=90)
        rg = azure_native.resources.ResourceGroup(
            f"{name}-rg",
            resource_group_name=rg_name,
            location=args.location,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        client = azure_native.authorization.get_client_config_output()

        per_region = spec.workspaces == "region"
        regions = sorted({c.location for c in args.clusters} | {args.location}) if per_region else [args.location]
        workspaces: dict[str, _Workspace] = {}
        for region in regions:
            suffix = f"-{region}" if per_region else ""
            workspace = mon.AzureMonitorWorkspace(
                f"{name}-workspace{suffix}",
                resource_group_name=rg.name,
                location=region,
                azure_monitor_workspace_name=azure_name("amw", *base, region if per_region else "", max_len=44),
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
            )
            dce = mon.DataCollectionEndpoint(
                f"{name}-dce{suffix}",
                resource_group_name=rg.name,
                location=region,
                data_collection_endpoint_name=prom_name(region, *base),
                kind=mon.KnownDataCollectionEndpointResourceKind.LINUX,
                description="Managed Prometheus ingestion endpoint",
                tags=tags,
                opts=child,
            )
            dcr = mon.DataCollectionRule(
                f"{name}-dcr{suffix}",
                resource_group_name=rg.name,
                location=region,
                data_collection_rule_name=prom_name(region, *base),
                kind=mon.KnownDataCollectionRuleResourceKind.LINUX,
                data_collection_endpoint_id=dce.id,
                description="DCR for Azure Monitor Metrics Profile (Managed Prometheus)",
                data_sources=mon.DataCollectionRuleDataSourcesArgs(
                    prometheus_forwarder=[
                        mon.PrometheusForwarderDataSourceArgs(name=PROMETHEUS_DATA_SOURCE, streams=[PROMETHEUS_STREAM])
                    ]
                ),
                destinations=mon.DataCollectionRuleDestinationsArgs(
                    monitoring_accounts=[
                        mon.MonitoringAccountDestinationArgs(
                            account_resource_id=workspace.id, name=MONITORING_ACCOUNT_DESTINATION
                        )
                    ]
                ),
                data_flows=[
                    mon.DataFlowArgs(streams=[PROMETHEUS_STREAM], destinations=[MONITORING_ACCOUNT_DESTINATION])
                ],
                tags=tags,
                opts=child,
            )
            workspaces[region] = _Workspace(region, suffix, workspace, dce, dcr)
        self.workspace_ids = {r: w.workspace.id for r, w in workspaces.items()}

        action_group = self._action_group(name, spec, rg.name, tags, args.webhook_urls)

        # The configuration-access endpoint must be in the cluster's region: a workspace's endpoint where there
        # is one, else one extra endpoint per region.
        config_dces = {region: ws.dce for region, ws in workspaces.items()}
        for cluster in args.clusters:
            if cluster.location not in config_dces:
                config_dces[cluster.location] = mon.DataCollectionEndpoint(
                    f"{name}-dce-config-{cluster.location}",
                    resource_group_name=rg.name,
                    location=cluster.location,
                    data_collection_endpoint_name=prom_name(cluster.location, *base, "cfg"),
                    kind=mon.KnownDataCollectionEndpointResourceKind.LINUX,
                    description="Managed Prometheus configuration access in the cluster region",
                    tags=tags,
                    opts=child,
                )
            ws = workspaces[cluster.location if per_region else args.location]
            self._attach(name, spec, cluster, ws, config_dces[cluster.location], rg.name, action_group, tags)
            if spec.logs_enabled and args.log_workspace_id is not None and args.log_workspace_region:
                attach_cluster_logs(
                    f"{name}-{cluster.key}",
                    spec=spec.logs,
                    cluster_name=cluster.name,
                    cluster_id=cluster.cluster_id,
                    workspace_id=args.log_workspace_id,
                    workspace_region=args.log_workspace_region,
                    resource_group_name=rg.name,
                    tags=tags,
                    parent=self,
                )

        self.grafana_endpoint = None
        self.dashboard_imports = {}
        self.dashboard_job = None
        if spec.grafana_enabled:
            self._grafana(name, args, rg.name, rg_name, tags, list(workspaces.values()), client.subscription_id)
        self.holmes_releases = {}
        self.openai_endpoint = None
        if spec.holmes_enabled and args.clusters:
            self._holmes(name, args, rg.name, tags, client.subscription_id)

        self.register_outputs({"workspaceIds": self.workspace_ids, "grafanaEndpoint": self.grafana_endpoint})

    def _action_group(
        self,
        name: str,
        spec: MonitoringSpec,
        rg_name: pulumi.Input[str],
        tags: dict[str, str],
        webhook_urls: Mapping[str, pulumi.Input[str]],
    ) -> azure_native.monitor.ActionGroup | None:
        alerts = spec.alerts
        if not alerts.has_receivers:
            return None
        mon = azure_native.monitor
        return mon.ActionGroup(
            f"{name}-action-group",
            resource_group_name=rg_name,
            location="Global",
            enabled=True,
            action_group_name=azure_name("ag", name, alerts.action_group_short_name, max_len=260),
            group_short_name=alerts.action_group_short_name,
            email_receivers=[
                mon.MicrosoftCommonEmailReceiverArgs(name=n, email_address=a, use_common_alert_schema=True)
                for n, a in sorted(alerts.emails.items())
            ]
            or None,
            webhook_receivers=[
                mon.WebhookReceiverArgs(
                    name=n,
                    service_uri=pulumi.Output.secret(webhook_urls[n]),
                    use_common_alert_schema=hook.common_alert_schema,
                )
                for n, hook in sorted(alerts.webhooks.items())
            ]
            or None,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _attach(
        self,
        name: str,
        spec: MonitoringSpec,
        cluster: MonitoredCluster,
        ws: _Workspace,
        config_dce: azure_native.monitor.DataCollectionEndpoint,
        rg_name: pulumi.Input[str],
        action_group: azure_native.monitor.ActionGroup | None,
        tags: dict[str, str],
    ) -> None:
        mon = azure_native.monitor
        child = pulumi.ResourceOptions(parent=self)
        prefix = f"{name}-{cluster.key}"
        mon.DataCollectionRuleAssociation(
            f"{prefix}-dcra",
            resource_uri=cluster.cluster_id,
            association_name=prom_name(cluster.location, cluster.name),
            data_collection_rule_id=ws.dcr.id,
            description="Association of data collection rule. Deleting this association will break the data "
            "collection for this AKS Cluster.",
            opts=child,
        )
        mon.DataCollectionRuleAssociation(
            f"{prefix}-dcea",
            resource_uri=cluster.cluster_id,
            association_name=CONFIG_ACCESS_ASSOCIATION,
            data_collection_endpoint_id=config_dce.id,
            description="Association of data collection endpoint (configuration access) for this AKS cluster.",
            opts=child,
        )

        am = azure_native.alertsmanagement
        actions = [am.PrometheusRuleGroupActionArgs(action_group_id=action_group.id)] if action_group else None
        for group in rule_groups(spec, cluster.name, cluster.gpu_slots):
            am.PrometheusRuleGroup(
                f"{prefix}-{group.name.split('-')[0]}",
                resource_group_name=rg_name,
                location=ws.region,
                rule_group_name=group.name,
                cluster_name=cluster.name,
                description=group.description,
                enabled=True,
                interval="PT1M",
                scopes=[ws.workspace.id, cluster.cluster_id],
                tags=tags,
                rules=[
                    am.PrometheusRuleArgs(
                        expression=r.expression,
                        record=r.record,
                        alert=r.alert,
                        labels=r.labels or None,
                        annotations=r.annotations or None,
                        for_=r.for_,
                        severity=r.severity,
                        enabled=True,
                        actions=actions if r.alert else None,
                        resolve_configuration=am.PrometheusRuleResolveConfigurationArgs(
                            auto_resolved=True, time_to_resolve="PT10M"
                        )
                        if r.alert
                        else None,
                    )
                    for r in group.rules
                ],
                opts=child,
            )

        if dcgm_exported(spec, cluster.gpu_slots):
            k8s_opts = pulumi.ResourceOptions(parent=self, provider=cluster.provider)
            ns = k8s.core.v1.Namespace(f"{prefix}-dcgm-ns", metadata=dcgm_namespace_object()["metadata"], opts=k8s_opts)
            k8s.helm.v3.Release(
                f"{prefix}-dcgm-exporter",
                name=DCGM_CHART,
                chart=DCGM_CHART,
                version=spec.dcgm_exporter.chart_version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=DCGM_REPO),
                namespace=DCGM_NAMESPACE,
                values=dcgm_values(spec),
                atomic=True,
                cleanup_on_fail=True,
                opts=pulumi.ResourceOptions(parent=self, provider=cluster.provider, depends_on=[ns]),
            )

    def _grafana(
        self,
        name: str,
        args: ObservabilityArgs,
        rg: pulumi.Input[str],
        rg_name: str,
        tags: dict[str, str],
        workspaces: list[_Workspace],
        subscription_id: pulumi.Input[str],
    ) -> None:
        dash = azure_native.dashboard
        spec = args.spec
        grafana_name = azure_name("graf", args.name_prefix, args.environment, max_len=23)
        grafana = dash.Grafana(
            f"{name}-grafana",
            resource_group_name=rg,
            location=args.location,
            workspace_name=grafana_name,
            sku=dash.ResourceSkuArgs(name="Standard"),
            identity=dash.ManagedServiceIdentityArgs(type=dash.ManagedServiceIdentityType.SYSTEM_ASSIGNED),
            properties=dash.ManagedGrafanaPropertiesArgs(
                api_key=dash.ApiKey.DISABLED,
                deterministic_outbound_ip=dash.DeterministicOutboundIP.DISABLED,
                public_network_access=dash.PublicNetworkAccess.ENABLED,
                zone_redundancy=dash.ZoneRedundancy.ENABLED
                if spec.grafana.zone_redundant
                else dash.ZoneRedundancy.DISABLED,
                grafana_major_version=spec.grafana.major_version,
                grafana_integrations=dash.GrafanaIntegrationsArgs(
                    azure_monitor_workspace_integrations=[
                        dash.AzureMonitorWorkspaceIntegrationArgs(azure_monitor_workspace_resource_id=w.workspace.id)
                        for w in workspaces
                    ]
                ),
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        principal = grafana.identity.apply(lambda i: i.principal_id if i else None)
        for w in workspaces:
            role_assignment(
                f"{name}-grafana-reader{w.suffix}",
                scope=w.workspace.id,
                role="Monitoring Data Reader",
                principal_id=principal,
                principal_type="ServicePrincipal",
                subscription_id=subscription_id,
                parent=self,
            )
        for role, groups in (
            ("Grafana Admin", spec.grafana.admin_group_object_ids),
            ("Grafana Viewer", spec.grafana.viewer_group_object_ids),
        ):
            for group in groups:
                role_assignment(
                    f"{name}-{role.split()[1].lower()}s-{str(group)[:8]}",
                    scope=grafana.id,
                    role=role,
                    principal_id=str(group),
                    principal_type="Group",
                    subscription_id=subscription_id,
                    parent=self,
                )
        self.grafana_endpoint = grafana.properties.apply(lambda p: p.endpoint if p else "")
        if spec.dashboards_enabled and args.clusters:
            self._dashboards(name, args, rg, tags, grafana, subscription_id)
        else:
            # Without the dashboard job, import by hand with the az CLI (the plan and the outputs say how).
            self.dashboard_imports = {d: dashboard_import_command(rg_name, grafana_name, d) for d in DASHBOARDS}

    def _workload_identity(
        self,
        name: str,
        role: str,
        args: ObservabilityArgs,
        rg: pulumi.Input[str],
        tags: dict[str, str],
        clusters: list[MonitoredCluster],
        namespace: str,
        service_account: str,
    ) -> tuple[azure_native.managedidentity.UserAssignedIdentity, list[pulumi.Resource]]:
        """A user-assigned identity and, per cluster, the federated credential its ServiceAccount logs in with."""
        mi = azure_native.managedidentity
        identity = mi.UserAssignedIdentity(
            f"{name}-{role}-identity",
            resource_group_name=rg,
            location=args.location,
            resource_name_=azure_name("id", args.name_prefix, args.environment, role, max_len=128),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        credentials: list[pulumi.Resource] = []
        for cluster in clusters:
            # Entra ID allows one credential write per identity at a time: chain them.
            credentials.append(
                mi.FederatedIdentityCredential(
                    f"{name}-{role}-{cluster.key}-federation",
                    resource_group_name=rg,
                    resource_name_=identity.name,
                    federated_identity_credential_resource_name=f"{cluster.key}-{namespace}-{service_account}",
                    issuer=cluster.oidc_issuer_url or "",
                    subject=f"system:serviceaccount:{namespace}:{service_account}",
                    audiences=[WORKLOAD_IDENTITY_AUDIENCE],
                    opts=pulumi.ResourceOptions(parent=self, depends_on=credentials[-1:]),
                )
            )
        return identity, credentials

    def _dashboards(
        self,
        name: str,
        args: ObservabilityArgs,
        rg: pulumi.Input[str],
        tags: dict[str, str],
        grafana: azure_native.dashboard.Grafana,
        subscription_id: pulumi.Input[str],
    ) -> None:
        """The dashboard job on the first monitored cluster (dashboards.py)."""
        # A cluster in the stack's region (Grafana's) if there is one, else the first by key.
        cluster = sorted(args.clusters, key=lambda c: (c.location != args.location, c.key))[0]
        prefix = f"{name}-{cluster.key}-dashboards"
        identity, credentials = self._workload_identity(
            name, "dashboards", args, rg, tags, [cluster], DASHBOARDS_NAMESPACE, DASHBOARDS_SERVICE_ACCOUNT
        )
        editor = role_assignment(
            f"{name}-dashboards-grafana-editor",
            scope=grafana.id,
            role="Grafana Editor",
            principal_id=identity.principal_id,
            principal_type="ServicePrincipal",
            subscription_id=subscription_id,
            parent=self,
        )
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=cluster.provider)
        ns = k8s.core.v1.Namespace(f"{prefix}-ns", metadata=dashboards_namespace_object()["metadata"], opts=k8s_opts)
        after_ns = pulumi.ResourceOptions(parent=self, provider=cluster.provider, depends_on=[ns])
        account = k8s.core.v1.ServiceAccount(
            f"{prefix}-sa", metadata=dashboards_service_account_object(identity.client_id)["metadata"], opts=after_ns
        )
        bodies = dashboard_bodies()
        configmap_object = dashboards_configmap_object(bodies)
        configmap = k8s.core.v1.ConfigMap(
            f"{prefix}-cm", metadata=configmap_object["metadata"], data=configmap_object["data"], opts=after_ns
        )
        job = dashboards_job_object(self.grafana_endpoint, bodies)
        self.dashboard_job = k8s.batch.v1.Job(
            f"{prefix}-job",
            metadata=job["metadata"],
            spec=job["spec"],
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=cluster.provider,
                depends_on=[account, configmap, editor, *credentials],
                replace_on_changes=["metadata.name"],
                delete_before_replace=False,
                custom_timeouts=pulumi.CustomTimeouts(create="20m", update="20m"),
            ),
        )

    def _holmes(
        self,
        name: str,
        args: ObservabilityArgs,
        rg: pulumi.Input[str],
        tags: dict[str, str],
        subscription_id: pulumi.Input[str],
    ) -> None:
        """Azure OpenAI (created or existing), HolmesGPT's identity, and per cluster its RBAC and chart."""
        cog = azure_native.cognitiveservices
        holmes = args.spec.holmes
        aoai = holmes.azure_openai
        model_dependencies: list[pulumi.Resource] = []
        account_name = azure_name("oai", args.name_prefix, args.environment, "holmes", max_len=64)
        endpoint = openai_endpoint(holmes, account_name)
        if aoai.existing_account_id is not None:
            account_id: pulumi.Input[str] = aoai.existing_account_id
        else:
            account = cog.Account(
                f"{name}-openai",
                resource_group_name=rg,
                location=args.location,
                account_name=account_name,
                kind="OpenAI",
                sku=cog.SkuArgs(name="S0"),
                properties=cog.AccountPropertiesArgs(
                    # Entra ID tokens need a custom subdomain; with local auth off, keys are refused outright.
                    custom_sub_domain_name=account_name,
                    disable_local_auth=True,
                    public_network_access=cog.PublicNetworkAccess.ENABLED,
                ),
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
            )
            deployment = cog.Deployment(
                f"{name}-openai-deployment",
                resource_group_name=rg,
                account_name=account.name,
                deployment_name=aoai.deployment,
                sku=cog.SkuArgs(name=aoai.sku, capacity=aoai.capacity),
                properties=cog.DeploymentPropertiesArgs(
                    model=cog.DeploymentModelArgs(format="OpenAI", name=aoai.model, version=aoai.model_version)
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            model_dependencies.append(deployment)
            account_id = account.id
        self.openai_endpoint = pulumi.Output.from_input(endpoint)
        identity, credentials = self._workload_identity(
            name, "holmes", args, rg, tags, args.clusters, HOLMES_NAMESPACE, HOLMES_SERVICE_ACCOUNT
        )
        grant = role_assignment(
            f"{name}-holmes-openai-user",
            scope=account_id,
            role="Cognitive Services OpenAI User",
            principal_id=identity.principal_id,
            principal_type="ServicePrincipal",
            subscription_id=subscription_id,
            parent=self,
        )
        for cluster in args.clusters:
            prefix = f"{name}-{cluster.key}-holmes"
            k8s_opts = pulumi.ResourceOptions(parent=self, provider=cluster.provider)
            ns = k8s.core.v1.Namespace(f"{prefix}-ns", metadata=holmes_namespace_object()["metadata"], opts=k8s_opts)
            after_ns = pulumi.ResourceOptions(parent=self, provider=cluster.provider, depends_on=[ns])
            account_sa = k8s.core.v1.ServiceAccount(
                f"{prefix}-sa", metadata=holmes_service_account_object(identity.client_id)["metadata"], opts=after_ns
            )
            role_object = holmes_cluster_role_object()
            role = k8s.rbac.v1.ClusterRole(
                f"{prefix}-role", metadata=role_object["metadata"], rules=role_object["rules"], opts=k8s_opts
            )
            binding_object = holmes_cluster_role_binding_object()
            binding = k8s.rbac.v1.ClusterRoleBinding(
                f"{prefix}-binding",
                metadata=binding_object["metadata"],
                role_ref=binding_object["roleRef"],
                subjects=binding_object["subjects"],
                opts=pulumi.ResourceOptions(parent=self, provider=cluster.provider, depends_on=[role, account_sa]),
            )
            self.holmes_releases[cluster.key] = k8s.helm.v3.Release(
                prefix,
                name="holmes",
                chart=HOLMES_CHART,
                version=holmes.chart_version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=HOLMES_REPO),
                namespace=HOLMES_NAMESPACE,
                values=holmes_values(holmes, endpoint),
                atomic=True,
                cleanup_on_fail=True,
                opts=pulumi.ResourceOptions(
                    parent=self,
                    provider=cluster.provider,
                    depends_on=[binding, grant, *credentials, *model_dependencies],
                ),
            )


def stack_outputs(monitoring: Observability) -> dict[str, Any]:
    outputs: dict[str, Any] = {"monitoringWorkspaceIds": monitoring.workspace_ids}
    if monitoring.grafana_endpoint is not None:
        outputs["grafanaEndpoint"] = monitoring.grafana_endpoint
        if monitoring.dashboard_imports:
            outputs["grafanaDashboardImports"] = monitoring.dashboard_imports
    if monitoring.openai_endpoint is not None:
        outputs["holmesOpenAiEndpoint"] = monitoring.openai_endpoint
    return outputs
