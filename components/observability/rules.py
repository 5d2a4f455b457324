"""Prometheus rule groups (pure): the node and Kubernetes recording rules Azure's dashboards rely on, GPU
recording rules and GPU alerts, per monitored cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from components.gpu_pools import GpuSlot
from components.observability.objects import dcgm_exported
from components.observability.spec import AlertsSpec, MonitoringSpec


@dataclass(frozen=True)
class Rule:
    expression: str
    record: str | None = None
    alert: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    for_: str | None = None
    severity: int | None = None


@dataclass(frozen=True)
class RuleGroup:
    name: str
    description: str
    rules: list[Rule]


def _r(record: str, expression: str, **labels: str) -> Rule:
    return Rule(expression=" ".join(expression.split()), record=record, labels=dict(labels))


_ACTIVE = 'kube_pod_status_phase{phase=~"Pending|Running"} == 1'

NODE_RECORDING_RULES = [
    _r("instance:node_num_cpu:sum", 'count without (cpu, mode) (node_cpu_seconds_total{job="node",mode="idle"})'),
    _r(
        "instance:node_cpu_utilisation:rate5m",
        '1 - avg without (cpu) (sum without (mode) (rate(node_cpu_seconds_total{job="node", '
        'mode=~"idle|iowait|steal"}[5m])))',
    ),
    _r("instance:node_load1_per_cpu:ratio", '(node_load1{job="node"} / instance:node_num_cpu:sum{job="node"})'),
    _r(
        "instance:node_memory_utilisation:ratio",
        '1 - ((node_memory_MemAvailable_bytes{job="node"} or (node_memory_Buffers_bytes{job="node"} + '
        'node_memory_Cached_bytes{job="node"} + node_memory_MemFree_bytes{job="node"} + '
        'node_memory_Slab_bytes{job="node"})) / node_memory_MemTotal_bytes{job="node"})',
    ),
    _r("instance:node_vmstat_pgmajfault:rate5m", 'rate(node_vmstat_pgmajfault{job="node"}[5m])'),
    _r(
        "instance_device:node_disk_io_time_seconds:rate5m",
        'rate(node_disk_io_time_seconds_total{job="node", device!=""}[5m])',
    ),
    _r(
        "instance_device:node_disk_io_time_weighted_seconds:rate5m",
        'rate(node_disk_io_time_weighted_seconds_total{job="node", device!=""}[5m])',
    ),
    _r(
        "instance:node_network_receive_bytes_excluding_lo:rate5m",
        'sum without (device) (rate(node_network_receive_bytes_total{job="node", device!="lo"}[5m]))',
    ),
    _r(
        "instance:node_network_transmit_bytes_excluding_lo:rate5m",
        'sum without (device) (rate(node_network_transmit_bytes_total{job="node", device!="lo"}[5m]))',
    ),
    _r(
        "instance:node_network_receive_drop_excluding_lo:rate5m",
        'sum without (device) (rate(node_network_receive_drop_total{job="node", device!="lo"}[5m]))',
    ),
    _r(
        "instance:node_network_transmit_drop_excluding_lo:rate5m",
        'sum without (device) (rate(node_network_transmit_drop_total{job="node", device!="lo"}[5m]))',
    ),
]


def _pod_node_join(metric: str) -> str:
    return (
        f'{metric}{{job="cadvisor", image!=""}} * on (namespace, pod) group_left(node) topk by (namespace, pod) '
        f'(1, max by (namespace, pod, node) (kube_pod_info{{node!=""}}))'
    )


def _active_pods(resource: str, kind: str) -> str:
    return (
        f'kube_pod_container_resource_{kind}{{resource="{resource}",job="kube-state-metrics"}} '
        f"* on (namespace, pod, cluster) group_left() max by (namespace, pod, cluster) (({_ACTIVE}))"
    )


def _namespace_sum(resource: str, kind: str) -> str:
    return (
        f"sum by (namespace, cluster) (sum by (namespace, pod, cluster) (max by (namespace, pod, container, "
        f'cluster) (kube_pod_container_resource_{kind}{{resource="{resource}",job="kube-state-metrics"}}) '
        f"* on (namespace, pod, cluster) group_left() max by (namespace, pod, cluster) ({_ACTIVE})))"
    )


def _owner(kind: str) -> str:
    return (
        f'max by (cluster, namespace, workload, pod) (label_replace(kube_pod_owner{{job="kube-state-metrics", '
        f'owner_kind="{kind}"}}, "workload", "$1", "owner_name", "(.*)"))'
    )


KUBERNETES_RECORDING_RULES = [
    _r(
        "node_namespace_pod_container:container_cpu_usage_seconds_total:sum_irate",
        'sum by (cluster, namespace, pod, container) (irate(container_cpu_usage_seconds_total{job="cadvisor", '
        'image!=""}[5m])) * on (cluster, namespace, pod) group_left(node) topk by (cluster, namespace, pod) '
        '(1, max by (cluster, namespace, pod, node) (kube_pod_info{node!=""}))',
    ),
    _r(
        "node_namespace_pod_container:container_memory_working_set_bytes",
        _pod_node_join("container_memory_working_set_bytes"),
    ),
    _r("node_namespace_pod_container:container_memory_rss", _pod_node_join("container_memory_rss")),
    _r("node_namespace_pod_container:container_memory_cache", _pod_node_join("container_memory_cache")),
    _r("node_namespace_pod_container:container_memory_swap", _pod_node_join("container_memory_swap")),
    _r("cluster:namespace:pod_memory:active:kube_pod_container_resource_requests", _active_pods("memory", "requests")),
    _r("namespace_memory:kube_pod_container_resource_requests:sum", _namespace_sum("memory", "requests")),
    _r("cluster:namespace:pod_cpu:active:kube_pod_container_resource_requests", _active_pods("cpu", "requests")),
    _r("namespace_cpu:kube_pod_container_resource_requests:sum", _namespace_sum("cpu", "requests")),
    _r("cluster:namespace:pod_memory:active:kube_pod_container_resource_limits", _active_pods("memory", "limits")),
    _r("namespace_memory:kube_pod_container_resource_limits:sum", _namespace_sum("memory", "limits")),
    _r("cluster:namespace:pod_cpu:active:kube_pod_container_resource_limits", _active_pods("cpu", "limits")),
    _r("namespace_cpu:kube_pod_container_resource_limits:sum", _namespace_sum("cpu", "limits")),
    _r(
        "namespace_workload_pod:kube_pod_owner:relabel",
        "max by (cluster, namespace, workload, pod) (label_replace(label_replace("
        'kube_pod_owner{job="kube-state-metrics", owner_kind="ReplicaSet"}, "replicaset", "$1", "owner_name", "(.*)") '
        "* on (replicaset, namespace) "
        "group_left(owner_name) topk by (replicaset, namespace) (1, max by (replicaset, namespace, owner_name) "
        '(kube_replicaset_owner{job="kube-state-metrics"})), "workload", "$1", "owner_name", "(.*)"))',
        workload_type="deployment",
    ),
    _r("namespace_workload_pod:kube_pod_owner:relabel", _owner("DaemonSet"), workload_type="daemonset"),
    _r("namespace_workload_pod:kube_pod_owner:relabel", _owner("StatefulSet"), workload_type="statefulset"),
    _r("namespace_workload_pod:kube_pod_owner:relabel", _owner("Job"), workload_type="job"),
    _r(
        ":node_memory_MemAvailable_bytes:sum",
        'sum(node_memory_MemAvailable_bytes{job="node"} or (node_memory_Buffers_bytes{job="node"} + '
        'node_memory_Cached_bytes{job="node"} + node_memory_MemFree_bytes{job="node"} + '
        'node_memory_Slab_bytes{job="node"})) by (cluster)',
    ),
    _r(
        "cluster:node_cpu:ratio_rate5m",
        'sum(rate(node_cpu_seconds_total{job="node",mode!="idle",mode!="iowait",mode!="steal"}[5m])) by (cluster) '
        '/ count(sum(node_cpu_seconds_total{job="node"}) by (cluster, instance, cpu)) by (cluster)',
    ),
]

# How labels reach GPU series: DCGM series carry the GPU and (via the ServiceMonitor relabeling) the `node`;
# the node's pool comes from kube_node_labels (kube-state-metrics allow-list `nodes=[ai-platform/gpu-pool,...]`,
# exported as label_ai_platform_gpu_pool). The owning pod's namespace comes from DCGM's pod attribution and, as
# the target already has a `namespace` label (the exporter's), arrives as `exported_namespace`.
GPU_NODE_INFO = "ai_platform:node_gpu_pool:info"
_BY_POOL = f"* on (cluster, node) group_left(gpu_pool) {GPU_NODE_INFO}"


def _team(metric: str) -> str:
    return f'label_replace({metric}{{exported_namespace!=""}}, "namespace", "$1", "exported_namespace", "(.+)")'


def gpu_recording_rules() -> list[Rule]:
    return [
        _r(
            GPU_NODE_INFO,
            "max by (cluster, node, gpu_pool, color, slot_role) (label_replace(label_replace(label_replace("
            'kube_node_labels{label_ai_platform_gpu_pool!=""}, '
            '"gpu_pool", "$1", "label_ai_platform_gpu_pool", "(.+)"), '
            '"color", "$1", "label_ai_platform_color", "(.*)"), "slot_role", "$1", "label_ai_platform_slot_role", '
            '"(.*)"))',
        ),
        _r("ai_platform:gpu_pool:gpu_utilization:avg", f"avg by (cluster, gpu_pool) (DCGM_FI_DEV_GPU_UTIL {_BY_POOL})"),
        _r("ai_platform:gpu_pool:gpus:count", f"count by (cluster, gpu_pool) (DCGM_FI_DEV_GPU_UTIL {_BY_POOL})"),
        _r(
            "ai_platform:gpu_pool:memory_used_bytes:sum",
            f"sum by (cluster, gpu_pool) (DCGM_FI_DEV_FB_USED {_BY_POOL}) * 1048576",
        ),
        _r(
            "ai_platform:gpu_pool:memory_used:ratio",
            f"sum by (cluster, gpu_pool) (DCGM_FI_DEV_FB_USED {_BY_POOL}) / sum by (cluster, gpu_pool) "
            f"((DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) {_BY_POOL})",
        ),
        _r(
            "ai_platform:namespace:gpu_utilization:avg",
            f"avg by (cluster, namespace) ({_team('DCGM_FI_DEV_GPU_UTIL')})",
        ),
        _r(
            "ai_platform:namespace:gpus_allocated:count",
            f"count by (cluster, namespace) ({_team('DCGM_FI_DEV_GPU_UTIL')})",
        ),
        _r(
            "ai_platform:namespace:gpu_memory_used_bytes:sum",
            f"sum by (cluster, namespace) ({_team('DCGM_FI_DEV_FB_USED')}) * 1048576",
        ),
    ]


def gpu_alert_rules(alerts: AlertsSpec, cluster_name: str, slots: Sequence[GpuSlot]) -> list[Rule]:
    idle = alerts.idle_gpu_minutes
    rules = [
        Rule(
            alert="GpuXidError",
            severity=1,
            for_="PT0M",
            expression="max_over_time(DCGM_FI_DEV_XID_ERRORS[5m]) > 0",
            annotations={
                "summary": "GPU {{ $labels.gpu }} on {{ $labels.node }} reported XID {{ $value }}",
                "runbook": "cordon the node; XID 48/63/64/74/79/94/95 usually need a node replacement",
            },
        ),
        Rule(
            alert="GpuHighTemperature",
            severity=2,
            for_="PT10M",
            expression=f"DCGM_FI_DEV_GPU_TEMP > {alerts.gpu_temperature_celsius}",
            annotations={"summary": "GPU {{ $labels.gpu }} on {{ $labels.node }} at {{ $value }} C"},
        ),
        Rule(
            alert="GpuMemoryExhausted",
            severity=3,
            for_="PT15M",
            expression=f"DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) "
            f"> {alerts.gpu_memory_used_ratio}",
            annotations={
                "summary": f"GPU memory on {{{{ $labels.node }}}} above {alerts.gpu_memory_used_ratio:.0%} (OOM risk)"
            },
        ),
        Rule(
            alert="GpuAllocatedIdle",
            severity=3,
            for_="PT15M",
            expression=f'avg_over_time(DCGM_FI_DEV_GPU_UTIL{{exported_pod!=""}}[{idle}m]) '
            f"< {alerts.idle_gpu_utilization_percent}",
            annotations={
                "summary": "GPU held by {{ $labels.exported_namespace }}/{{ $labels.exported_pod }} "
                f"idle for {idle} minutes (paid for, unused)"
            },
        ),
    ]
    # A pool whose active colour must keep nodes (minCount >= 1) and has none Ready. Autoscaled-to-zero pools
    # are not alerted on. `or vector(0)` makes "no nodes at all" fire too.
    for slot in slots:
        if not slot.active or slot.spec.min_count < 1:
            continue
        selector = (
            f'cluster="{cluster_name}", label_ai_platform_gpu_pool="{slot.pool_id}", '
            f'label_ai_platform_color="{slot.colour}"'
        )
        rules.append(
            Rule(
                alert="GpuPoolNoReadyNodes",
                severity=1,
                for_="PT10M",
                labels={"gpu_pool": slot.pool_id, "color": slot.colour},
                expression=(
                    f'(sum(kube_node_status_condition{{cluster="{cluster_name}", condition="Ready", '
                    f'status="true"}} * on (cluster, node) group_left() max by (cluster, node) '
                    f"(kube_node_labels{{{selector}}})) or vector(0)) < 1"
                ),
                annotations={
                    "summary": f"GPU pool {slot.pool_id} ({slot.pool_name}) on {cluster_name} has no Ready node"
                },
            )
        )
    return rules


def rule_groups(spec: MonitoringSpec, cluster_name: str, slots: Sequence[GpuSlot]) -> list[RuleGroup]:
    """The rule groups of one cluster (names follow Azure's ``<Group>-<cluster>`` convention)."""
    groups = [
        RuleGroup(
            f"NodeRecordingRulesRuleGroup-{cluster_name}", "Node Recording Rules Rule Group", NODE_RECORDING_RULES
        ),
        RuleGroup(
            f"KubernetesRecordingRulesRuleGroup-{cluster_name}",
            "Kubernetes Recording Rules Rule Group",
            KUBERNETES_RECORDING_RULES,
        ),
    ]
    if not slots:
        return groups
    alerts = gpu_alert_rules(spec.alerts, cluster_name, slots)
    if dcgm_exported(spec, slots):
        groups.append(
            RuleGroup(
                f"GpuRecordingRulesRuleGroup-{cluster_name}",
                "GPU utilisation and memory per pool and per team namespace (DCGM)",
                gpu_recording_rules(),
            )
        )
    else:
        # Without DCGM series only the node-readiness alert (kube-state-metrics) can fire.
        alerts = [r for r in alerts if r.alert == "GpuPoolNoReadyNodes"]
    if alerts:
        groups.append(RuleGroup(f"GpuAlertsRuleGroup-{cluster_name}", "GPU health, waste and capacity alerts", alerts))
    return groups
