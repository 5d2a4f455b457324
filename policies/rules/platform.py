"""Stack-wide guards: DRA prerequisites, monitoring, Fleet membership, ``protect``, required tags, the GPU
budget, and the validity of waivers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from components.facts import LABEL_ALLOCATION
from components.gpu_skus import gpu_sku
from components.images import CHART_IMAGES, IMAGES
from components.pricing import PricingSpec, estimate_cost, price_table
from policies.engine import (
    AGENT_POOL,
    CLUSTER,
    UNKNOWN,
    UNSET,
    Finding,
    Resource,
    Rule,
    RuleContext,
    StackView,
    Waiver,
    lookup,
)
from policies.rules._util import at, expect, is_true, minor, problem, show, unknown
from policies.rules.cluster import FLEET_MEMBER
from policies.rules.gpu import HELM_RELEASE, is_gpu_pool

MONITOR_WORKSPACE = "azure-native:monitor:AzureMonitorWorkspace"
DCR_ASSOCIATION = "azure-native:monitor:DataCollectionRuleAssociation"
DIAGNOSTIC_SETTING = "azure-native:monitor:DiagnosticSetting"
AUDIT_ADMIN = "kube-audit-admin"
DRA_MIN_MINOR = 34

STATEFUL_TYPES = (
    CLUSTER,
    "azure-native:resources:ResourceGroup",
    MONITOR_WORKSPACE,
    "azure-native:dashboard:Grafana",
    "azure-native:containerservice:Fleet",
    "azure-native:operationalinsights:Workspace",
    "azure-native:storage:StorageAccount",
    "azure-native:keyvault:Vault",
    "azure-native:containerregistry:Registry",
)
REQUIRED_TAGS = ("environment", "owner", "cost-center")
TAGGABLE_TYPES = (
    *STATEFUL_TYPES,
    AGENT_POOL,
    "azure-native:network:VirtualNetwork",
    "azure-native:network:NetworkSecurityGroup",
    "azure-native:managedidentity:UserAssignedIdentity",
    "azure-native:monitor:DataCollectionEndpoint",
    "azure-native:monitor:DataCollectionRule",
    "azure-native:alertsmanagement:PrometheusRuleGroup",
)
"""Resource types that take Azure tags; a missing ``tags`` input on them is a violation."""


def _is_dra_object(r: Resource) -> bool:
    if r.type.startswith("kubernetes:resource.k8s.io/"):
        return True
    if r.type == HELM_RELEASE:
        chart = str(r.get("chart", "")).lower()
        return "dra-driver" in chart
    return False


def dra_version(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    need = int(ctx.setting("minKubernetesMinor", DRA_MIN_MINOR))
    users: dict[str, list[Resource]] = {}
    for r in stack.resources:
        dra_pool = (
            is_gpu_pool(r)
            and isinstance(r.get("nodeLabels", {}), Mapping)
            and r.get("nodeLabels", {}).get(LABEL_ALLOCATION) == "dra"
        )
        if _is_dra_object(r) or dra_pool:
            cluster = stack.cluster_of(r)
            for c in [cluster] if cluster else stack.clusters:
                users.setdefault(c.urn, []).append(r)
            if dra_pool:
                version = r.get("orchestratorVersion")
                if version is UNKNOWN:
                    yield at(unknown(r, "orchestratorVersion", f">= 1.{need}"), r.urn)
                elif version is not UNSET and (minor(version) or 0) < need:
                    yield at(
                        problem(
                            r,
                            "orchestratorVersion",
                            version,
                            f">= 1.{need} (DRA is GA in 1.34)",
                            "upgrade the slot through the other colour",
                        ),
                        r.urn,
                    )
    for cluster_urn, objects in users.items():
        cluster = stack.by_urn[cluster_urn]
        version = cluster.get("kubernetesVersion")
        names = ", ".join(sorted({o.name for o in objects})[:4])
        if version is UNKNOWN:
            yield at(unknown(cluster, "kubernetesVersion", f">= 1.{need} (DRA objects: {names})"), cluster.urn)
        elif (minor(version) or 0) < need:
            yield at(
                problem(
                    cluster,
                    "kubernetesVersion",
                    version,
                    f">= 1.{need} because DRA is used ({names})",
                    f'set kubernetesVersion: "1.{need}" or turn features.dra off',
                ),
                cluster.urn,
            )


def monitoring_workspace(stack: StackView, _: RuleContext) -> Iterator[Finding]:
    if stack.clusters and not stack.of_type(MONITOR_WORKSPACE):
        yield Finding(
            f"stack: no {MONITOR_WORKSPACE} (Azure Monitor workspace for managed Prometheus); expected "
            "one per stack. Fix: enable the observability component (monitoring) in the stack file",
            stack.clusters[0].urn,
        )


def cluster_metrics(r: Resource, _: RuleContext) -> Iterator[Finding]:
    yield from expect(
        r,
        "azureMonitorProfile.metrics.enabled",
        is_true,
        "true (managed Prometheus metrics)",
        "keep features.monitoring: true so the observability component sets azureMonitorProfile",
        default_note="off",
    )


def _sends_audit_admin(setting: Resource) -> bool | None:
    """Whether a diagnostic setting sends ``kube-audit-admin`` (None: not known before deployment)."""
    logs = setting.inputs.get("logs", UNSET)
    if logs is UNKNOWN or logs is None:
        return None
    if logs is UNSET:
        return False
    known = True
    for entry in logs:
        category = entry.get("category") if hasattr(entry, "get") else UNKNOWN
        enabled = entry.get("enabled") if hasattr(entry, "get") else UNKNOWN
        if category is UNKNOWN or category is None or enabled is UNKNOWN or enabled is None:
            known = False
        elif category == AUDIT_ADMIN and enabled is True:
            return True
    return False if known else None


def audit_logs(stack: StackView, _: RuleContext) -> Iterator[Finding]:
    settings = stack.of_type(DIAGNOSTIC_SETTING)
    for cluster in stack.clusters:
        mine = [s for s in settings if stack.depends_on(s, cluster)]
        verdicts = [_sends_audit_admin(s) for s in mine]
        if any(v is True for v in verdicts):
            continue
        if any(v is None for v in verdicts):
            yield Finding(
                f"{cluster.label}: the categories of its {DIAGNOSTIC_SETTING} are not known before deployment; "
                f"expected {AUDIT_ADMIN} enabled",
                cluster.urn,
                unknown=True,
            )
            continue
        yield Finding(
            f"{cluster.label}: no {DIAGNOSTIC_SETTING} sends {AUDIT_ADMIN} (write audit events) to Log Analytics "
            f"({len(mine)} setting(s) scoped to it); expected one with category {AUDIT_ADMIN} enabled. Fix: set "
            f"monitoring.logs.enabled: true and keep {AUDIT_ADMIN} in monitoring.logs.controlPlane",
            cluster.urn,
        )


def dcr_association(stack: StackView, _: RuleContext) -> Iterator[Finding]:
    associations = stack.of_type(DCR_ASSOCIATION)
    for cluster in stack.clusters:
        if not any(stack.depends_on(a, cluster) for a in associations):
            yield Finding(
                f"{cluster.label}: no {DCR_ASSOCIATION} scoped to it; expected a data collection rule "
                "association (Prometheus metrics to the Azure Monitor workspace). Fix: keep "
                "features.monitoring: true",
                cluster.urn,
            )


def fleet_membership(stack: StackView, _: RuleContext) -> Iterator[Finding]:
    members = stack.of_type(FLEET_MEMBER)
    for cluster in stack.clusters:
        if not any(stack.depends_on(m, cluster) for m in members):
            yield Finding(
                f"{cluster.label}: no {FLEET_MEMBER} for it; expected Fleet membership (staged upgrades). "
                "Fix: configure the root fleet key and keep features.fleet: true",
                cluster.urn,
            )


def protected(r: Resource, _: RuleContext) -> Iterator[Finding]:
    if not r.protect:
        yield Finding(
            f"{r.label}: option protect is false; expected true for clusters and stateful resources. "
            "Fix: set ai-platform:protect: true in the stack file"
        )


def required_tags(r: Resource, _: RuleContext) -> Iterator[Finding]:
    if not r.type.startswith("azure-native:"):
        return
    tags = r.get("tags")
    if tags is UNSET and r.type not in TAGGABLE_TYPES:
        return
    expected = f"tags {', '.join(REQUIRED_TAGS)} (non-empty)"
    if tags is UNKNOWN:
        yield unknown(r, "tags", expected)
        return
    tags = tags if isinstance(tags, Mapping) else {}
    missing = [t for t in REQUIRED_TAGS if not tags.get(t)]
    unknown_tags = [t for t in missing if t in tags and tags[t] is None]
    if unknown_tags:
        yield unknown(r, f"tags.{unknown_tags[0]}", expected)
    elif missing:
        yield problem(
            r,
            "tags",
            dict(tags) if tags else UNSET,
            f"{expected}; missing {', '.join(missing)}",
            "pass the component the stack's base tags (owner, costCenter, environment)",
        )


def tags_environment(r: Resource, ctx: RuleContext) -> Iterator[Finding]:
    environment = ctx.setting("environment")
    tags = r.get("tags")
    if not environment or not isinstance(tags, Mapping) or "environment" not in tags:
        return
    value = tags["environment"]
    if value is None:
        yield unknown(r, "tags.environment", repr(environment))
    elif value != environment:
        yield problem(
            r,
            "tags.environment",
            value,
            f"{environment!r} (the stack's environment)",
            "tag resources with the stack's ai-platform:environment",
        )


def _gpu_cost(cost: Mapping[str, Any]) -> tuple[float, float, list[str]]:
    baseline = peak = 0.0
    unpriced: list[str] = []
    for item in cost.get("items") or []:
        if item.get("kind") != "nodePool" or gpu_sku(str(item.get("vmSize"))) is None:
            continue
        if item.get("priced") is False:
            unpriced.append(str(item.get("vmSize")))
        baseline += float(item.get("baselineMonthlyUsd") or 0.0)
        peak += float(item.get("maxMonthlyUsd") or 0.0)
    return baseline, peak, unpriced


def stack_cost(stack: StackView, pricing: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """The plan's ``cost`` section, or (under the CLI, no plan) the same estimate from the resources, priced
    with the stack's ``pricing`` overrides that ``python -m stacks policy-config`` puts in the pack config."""
    if stack.cost and stack.cost.get("items"):
        return stack.cost
    return estimate_cost(
        (
            {"urn": r.urn, "type": r.type, "name": r.name, "inputs": r.inputs, "dependencies": list(r.dependencies)}
            for r in stack.resources
        ),
        price_table(PricingSpec.model_validate(pricing) if pricing else None),
    )


def budget(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    limit = ctx.setting("budgetMonthlyUsd")
    if limit is None:
        return
    basis = str(ctx.setting("basis", "max"))
    baseline, peak, unpriced = _gpu_cost(stack_cost(stack, ctx.setting("pricing")))
    spent = peak if basis == "max" else baseline
    anchor = stack.clusters[0].urn if stack.clusters else None
    if unpriced:
        yield Finding(
            f"stack: GPU sizes without a price ({', '.join(sorted(set(unpriced)))}); the budget of "
            f"{float(limit):,.0f} USD/month cannot be checked for them",
            anchor,
            True,
        )
    if spent > float(limit):
        what = "every GPU pool at maxCount" if basis == "max" else "every GPU pool at minCount"
        yield Finding(
            f"stack: estimated GPU cost is {spent:,.0f} USD/month ({what}; baseline {baseline:,.0f}, "
            f"peak {peak:,.0f}); expected <= budgetMonthlyUsd {float(limit):,.0f}. Fix: lower maxCount or "
            "pick smaller sizes, or raise ai-platform:policy.budgetMonthlyUsd with the budget owner",
            anchor,
        )


def make_waiver_rule(known_rules: list[str]) -> Rule:
    def waivers_valid(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
        today = dt.date.fromisoformat(str(ctx.setting("today", dt.date.today().isoformat())))
        for index, raw in enumerate(ctx.setting("allWaivers", []) or []):
            where = f"waiver #{index + 1} ({raw.get('rule')!s} on {raw.get('resource')!s})"
            try:
                waiver = Waiver.parse(raw)
            except (TypeError, ValueError):
                yield Finding(
                    f"{where}: expires is {raw.get('expires')!r}; expected an ISO date (YYYY-MM-DD). "
                    "Fix: correct ai-platform:policy.waivers"
                )
                continue
            if waiver.rule not in known_rules:
                yield Finding(
                    f"{where}: rule is {waiver.rule!r}; expected a rule id of the pack. Fix: use one of "
                    "the ids in README 'Policy'"
                )
            if not waiver.reason.strip():
                yield Finding(f"{where}: reason is empty; expected why the rule is waived. Fix: add a reason")
            if waiver.expires < today:
                target = next((r.urn for r in stack.resources if waiver.matches(r, r.urn)), None)
                yield Finding(
                    f"{where}: expired on {waiver.expires.isoformat()}; expected a waiver that has not "
                    f"expired, so {waiver.rule} applies again. Fix: fix the resource, or renew the waiver "
                    "with a new expires date and reason",
                    target,
                )

    return Rule(
        "waiver-valid",
        "Waivers name a rule of the pack and a reason, and have not expired.",
        "high",
        "mandatory",
        waivers_valid,
        scope="stack",
        settings={"allWaivers": {"type": "array", "items": {"type": "object"}}},
    )


WORKLOAD_TYPES = tuple(
    f"kubernetes:{kind}"
    for kind in (
        "apps/v1:Deployment",
        "apps/v1:StatefulSet",
        "apps/v1:DaemonSet",
        "batch/v1:Job",
        "core/v1:Pod",
    )
)


RAY_SERVICE = "kubernetes:ray.io/v1:RayService"
KAITO_WORKSPACE = "kubernetes:kaito.sh/v1beta1:Workspace"


def _pod_specs(r: Resource) -> list[Any]:
    """The pod specs ``r`` runs: a Pod's own, a workload's template, a RayService's head and worker groups."""
    if r.type.endswith(":Pod"):
        return [r.get("spec")]
    if r.type == RAY_SERVICE:
        cluster = r.get("spec.rayClusterConfig")
        if not isinstance(cluster, Mapping):
            return []
        groups = [cluster.get("headGroupSpec"), *(cluster.get("workerGroupSpecs") or [])]
        return [g.get("template", {}).get("spec") for g in groups if isinstance(g, Mapping)]
    return [r.get("spec.template.spec")]


def _containers(r: Resource) -> list[Any]:
    return [
        c
        for pod in _pod_specs(r)
        if isinstance(pod, Mapping)
        for key in ("initContainers", "containers")
        for c in pod.get(key) or []
        if isinstance(c, Mapping)
    ]


def images_pinned(r: Resource, _: RuleContext) -> Iterator[Finding]:
    """Workloads and the charts the plan installs run images pinned by digest (components/images.py)."""
    fix = "pin the image by digest in components/images.py (record its source), e.g. repo:tag@sha256:<digest>"
    if r.type == HELM_RELEASE:
        chart = r.get("chart")
        version = r.get("version")
        if not isinstance(chart, str) or not isinstance(version, str):
            return
        entry = CHART_IMAGES.get(chart.rsplit("/", 1)[-1])
        if entry is None:
            return
        pinned_version, image_id, key = entry
        image = IMAGES[image_id]
        value = lookup(r.inputs, f"values.{key}")
        if value is UNKNOWN:
            yield unknown(r, f"values.{key}", "a tag@sha256 digest")
            return
        if not (isinstance(value, str) and "@sha256:" in value):
            why = (
                f"no digest is recorded for {image.name}:{image.tag} ({image.source})"
                if not image.pinned
                else f"chart version {version} is not the one pinned ({pinned_version})"
                if version != pinned_version
                else "the pinned digest is not set"
            )
            yield Finding(
                f"{r.label}: values.{key} is {show(value)}, so chart {chart} runs {image.name} unpinned "
                f"({why}); expected a tag@sha256 digest. Fix: {fix}"
            )
        return
    if r.type == KAITO_WORKSPACE:
        image = IMAGES["kaito-preset"]
        yield Finding(
            f"{r.label}: runs the preset image KAITO's controller picks ({image.name}), unpinned ({image.source}); "
            "expected an image pinned by digest. Fix: serve the model with runtime vllm (digest-pinned image), "
            "or waive this Workspace with a reason and an expiry"
        )
        return
    for container in _containers(r):
        image = container.get("image")
        if image is None:
            yield unknown(r, f"container {container.get('name')!r} image", "an image@sha256 digest")
        elif not (isinstance(image, str) and "@sha256:" in image):
            yield Finding(
                f"{r.label}: container {container.get('name')!r} image is {show(image)}; expected an image pinned "
                f"by digest (image@sha256:...). Fix: {fix}, or set models.<name>.image to a digest-pinned reference"
            )


RULES: list[Rule] = [
    Rule(
        "images-pinned",
        "Workloads and the charts the blueprint installs run images pinned by digest.",
        "high",
        "mandatory",
        images_pinned,
        types=(*WORKLOAD_TYPES, HELM_RELEASE, RAY_SERVICE, KAITO_WORKSPACE),
    ),
    Rule(
        "dra-kubernetes-version",
        "DRA objects and DRA GPU pools need Kubernetes >= 1.34.",
        "high",
        "mandatory",
        dra_version,
        scope="stack",
        settings={"minKubernetesMinor": {"type": "integer"}},
    ),
    Rule(
        "monitoring-workspace",
        "The stack has an Azure Monitor workspace (managed Prometheus).",
        "medium",
        "advisory",
        monitoring_workspace,
        scope="stack",
    ),
    Rule(
        "monitoring-cluster-metrics",
        "Clusters send metrics to managed Prometheus (azureMonitorProfile.metrics.enabled).",
        "medium",
        "advisory",
        cluster_metrics,
        types=(CLUSTER,),
    ),
    Rule(
        "monitoring-dcr-association",
        "Every cluster has a data collection rule association.",
        "medium",
        "advisory",
        dcr_association,
        scope="stack",
    ),
    Rule(
        "logs-kube-audit-admin",
        "Every cluster sends kube-audit-admin (write audit events) to Log Analytics through a diagnostic setting.",
        "high",
        "advisory",
        audit_logs,
        scope="stack",
    ),
    Rule(
        "fleet-membership",
        "Every cluster is a member of a Fleet (staged upgrades).",
        "medium",
        "advisory",
        fleet_membership,
        scope="stack",
    ),
    Rule(
        "protect-stateful",
        "Clusters and stateful resources have the protect option.",
        "high",
        "advisory",
        protected,
        types=STATEFUL_TYPES,
    ),
    Rule(
        "required-tags",
        "Azure resources carry the environment, owner and cost-center tags.",
        "medium",
        "mandatory",
        required_tags,
    ),
    Rule(
        "tags-environment-match",
        "The environment tag equals the stack's environment.",
        "low",
        "mandatory",
        tags_environment,
        settings={"environment": {"type": "string"}},
    ),
    Rule(
        "gpu-budget",
        "The estimated monthly GPU cost stays within the stack's budget.",
        "high",
        "mandatory",
        budget,
        scope="stack",
        settings={
            "budgetMonthlyUsd": {"type": "number", "minimum": 0},
            "basis": {"type": "string", "enum": ["max", "baseline"]},
            "pricing": {"type": "object"},
        },
    ),
]
