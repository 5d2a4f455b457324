"""The Kubernetes objects of one model deployment, and the component that applies them.

Per ``models.<name>``, in the team's namespace: a ``ResourceClaimTemplate`` claiming TP devices of the
chosen sharing profile's DeviceClass, a vLLM ``Deployment`` whose pods reference it (``spec.resourceClaims``
and container ``resources.claims``) and are pinned to the active colour of the chosen pool, a ``Service`` on
port 8000 and a ``PodDisruptionBudget``. On clusters with L7 Cilium policies (ACNS security, ``policies:
L7``) and a team with ``networkIsolation``, a ``cilium.io/v2`` ``CiliumNetworkPolicy`` admits only the
OpenAI-compatible API calls (method and path) on port 8000 from the team's namespace and its
``allowIngressFrom`` namespaces, and ``GET /metrics`` from the managed Prometheus collector. The object
builders are pure functions (tested for strict schema validity); :class:`ModelServing` only registers what
they return.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components._common import TYPE_PREFIX
from components.dra import METRICS_COLLECTOR, MODEL_LABEL, RESOURCE_API_VERSION
from components.gpu_pools import LABEL_COLOUR, LABEL_GROUP
from components.serving.fit import AMPERE, COMPUTE_CAPABILITY, SURGE, Fit

PORT = 8000
RUN_AS = 1000
CLAIM = "gpu"
CILIUM_API_VERSION = "cilium.io/v2"
CILIUM_NAMESPACE_LABEL = "k8s:io.kubernetes.pod.namespace"
API_RULES: list[dict[str, str]] = [
    {"method": "GET", "path": "/health"},
    {"method": "GET", "path": "/v1/models"},
    {"method": "POST", "path": "/v1/(chat/)?completions"},
    {"method": "POST", "path": "/v1/embeddings"},
]
"""What callers may ask a model server (Cilium matches ``method`` and ``path`` as whole-string regexes)."""
METRICS_RULES: list[dict[str, str]] = [{"method": "GET", "path": "/metrics"}]


def labels(name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "vllm",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": "model-server",
        "app.kubernetes.io/managed-by": "pulumi",
        MODEL_LABEL: name,
    }


def _selector(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": name}


def _metadata(name: str, namespace: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": labels(name)}


def vllm_args(fit: Fit) -> list[str]:
    """The vLLM server flags that realise the fit: TP, context, concurrency, memory share, precision."""
    chosen, spec = fit.chosen, fit.spec
    assert chosen is not None
    assert chosen.estimate is not None
    utilisation = chosen.utilisation
    if chosen.kind == "timeShared":
        # vLLM takes its fraction of the *whole* GPU; time-shared tenants each take only what they need.
        utilisation = min(0.95, math.ceil((chosen.estimate.total_gib + 0.5) / chosen.device_memory_gib * 100) / 100)
    precision = spec.effective_precision
    args = [
        "--model",
        spec.effective_source,
        "--served-model-name",
        fit.name,
        "--host",
        "0.0.0.0",
        "--port",
        str(PORT),
        "--tensor-parallel-size",
        str(chosen.tp),
        "--max-model-len",
        str(spec.context_length),
        "--max-num-seqs",
        str(spec.concurrency),
        "--gpu-memory-utilization",
        f"{utilisation:.2f}",
    ]
    if precision in ("bf16", "fp16", "fp8"):
        # Activations (and fp8's unquantized layers) in bf16 where the GPU has it (the checkpoints' own dtype);
        # fp16 on older GPUs (T4) and when fp16 was asked for.
        bf16_ok = COMPUTE_CAPABILITY.get(chosen.sku.gpu.name, 0.0) >= AMPERE
        args += ["--dtype", "bfloat16" if precision in ("bf16", "fp8") and bf16_ok else "half"]
    if precision == "fp8":
        args += ["--quantization", "fp8"]
    if spec.kv_cache_dtype == "fp8":
        args += ["--kv-cache-dtype", "fp8"]
    return args


def _pod_claim(fit: Fit) -> dict[str, str]:
    """Own claim template (TP devices) or, time-shared, the team's shared claim the placement assigned."""
    if fit.shared_claim:
        return {"name": CLAIM, "resourceClaimName": fit.shared_claim}
    return {"name": CLAIM, "resourceClaimTemplateName": f"{fit.name}-gpu"}


def resource_claim_template(fit: Fit, namespace: str) -> dict[str, Any]:
    chosen = fit.chosen
    assert chosen is not None
    return {
        "apiVersion": RESOURCE_API_VERSION,
        "kind": "ResourceClaimTemplate",
        "metadata": _metadata(f"{fit.name}-gpu", namespace),
        "spec": {
            "spec": {
                "devices": {
                    "requests": [
                        {
                            "name": CLAIM,
                            "exactly": {
                                "deviceClassName": chosen.device_class,
                                "allocationMode": "ExactCount",
                                "count": chosen.tp,
                            },
                        },
                    ]
                }
            }
        },
    }


def _host_resources(fit: Fit) -> dict[str, str]:
    """CPU and memory requests: the replica's share (TP devices) of the VM, leaving a quarter for the node."""
    chosen = fit.chosen
    assert chosen is not None
    sku = chosen.sku
    devices = sku.gpu_count * chosen.per_gpu
    cpu = max(1, math.floor(sku.vcpus * 0.75 / devices)) * chosen.tp
    memory = max(4, math.floor(sku.memory_gib * 0.75 / devices)) * chosen.tp
    return {"cpu": str(cpu), "memory": f"{memory}Gi"}


def deployment(fit: Fit, namespace: str) -> dict[str, Any]:
    chosen, spec = fit.chosen, fit.spec
    assert chosen is not None
    assert chosen.estimate is not None
    host = _host_resources(fit)
    weights_gib = math.ceil(chosen.estimate.weights_gib * chosen.tp * 1.1) + 2
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": "/tmp/home"},
        {"name": "HF_HOME", "value": "/models/hf"},
        {"name": "XDG_CACHE_HOME", "value": "/tmp/cache"},
        {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
        {"name": "DO_NOT_TRACK", "value": "1"},
    ]
    if spec.hf_token_secret:
        env.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": spec.hf_token_secret, "key": "token"}}})
    probe_path = {"httpGet": {"path": "/health", "port": "http"}}
    # pool_id: the label the pool carries (renamedFrom of a renamed group), not necessarily the config key.
    node_selector = {LABEL_GROUP: chosen.slot.pool_id, LABEL_COLOUR: chosen.slot.colour}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(fit.name, namespace),
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": _selector(fit.name)},
            # Never below `replicas` serving: a new pod (on the new colour after a blue-green switch) must be
            # Ready before an old one stops. The surge pod claims TP more devices: the team's quota and the
            # active colour's maxCount leave room for it (fit.SURGE, checked with the configuration).
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": SURGE, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels(fit.name)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "nodeSelector": node_selector,
                    "tolerations": chosen.slot.workload_tolerations(),
                    "resourceClaims": [_pod_claim(fit)],
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": RUN_AS,
                        "runAsGroup": RUN_AS,
                        "fsGroup": RUN_AS,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "terminationGracePeriodSeconds": 60,
                    "containers": [
                        {
                            "name": "vllm",
                            "image": spec.image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["python3", "-m", "vllm.entrypoints.openai.api_server"],
                            "args": vllm_args(fit),
                            "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
                            "env": env,
                            "resources": {
                                "requests": host,
                                "limits": {"memory": host["memory"]},
                                "claims": [{"name": CLAIM}],
                            },
                            # Loading weights takes minutes: the startup probe allows 30 minutes before liveness.
                            "startupProbe": {**probe_path, "periodSeconds": 10, "failureThreshold": 180},
                            "readinessProbe": {**probe_path, "periodSeconds": 10, "failureThreshold": 3},
                            "livenessProbe": {**probe_path, "periodSeconds": 20, "failureThreshold": 3},
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "privileged": False,
                                "readOnlyRootFilesystem": True,
                                "runAsNonRoot": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [
                                {"name": "models", "mountPath": "/models"},
                                {"name": "tmp", "mountPath": "/tmp"},
                                {"name": "shm", "mountPath": "/dev/shm"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "models", "emptyDir": {"sizeLimit": f"{weights_gib}Gi"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "20Gi"}},
                        # Tensor-parallel workers exchange data through shared memory.
                        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{2 + 4 * chosen.tp}Gi"}},
                    ],
                },
            },
        },
    }


def service(fit: Fit, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(fit.name, namespace),
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(fit.name),
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def pod_disruption_budget(fit: Fit, namespace: str) -> dict[str, Any]:
    # One pod at a time may be evicted: node drains (blue-green switches) proceed, never all replicas at once.
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(fit.name, namespace),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _selector(fit.name)}},
    }


def http_policy(fit: Fit, namespace: str, sources: list[str]) -> dict[str, Any]:
    """The model's L7 ingress policy: API calls from ``sources`` (namespaces), metrics from the collector."""
    port = [{"port": str(PORT), "protocol": "TCP"}]
    collector_ns, collector_labels = METRICS_COLLECTOR
    collector = {CILIUM_NAMESPACE_LABEL: collector_ns, **{f"k8s:{k}": v for k, v in collector_labels.items()}}
    return {
        "apiVersion": CILIUM_API_VERSION,
        "kind": "CiliumNetworkPolicy",
        "metadata": _metadata(fit.name, namespace),
        "spec": {
            "description": f"{fit.name}: OpenAI-compatible API calls only, from {', '.join(sources)}",
            "endpointSelector": {"matchLabels": _selector(fit.name)},
            "ingress": [
                {
                    "fromEndpoints": [{"matchLabels": {CILIUM_NAMESPACE_LABEL: ns}} for ns in sources],
                    "toPorts": [{"ports": port, "rules": {"http": [dict(r) for r in API_RULES]}}],
                },
                {
                    "fromEndpoints": [{"matchLabels": collector}],
                    "toPorts": [{"ports": port, "rules": {"http": [dict(r) for r in METRICS_RULES]}}],
                },
            ],
        },
    }


def manifests(fit: Fit, namespace: str) -> list[dict[str, Any]]:
    """The model's objects; time-shared deployments use the team's shared claim instead of a template."""
    claim = [] if fit.shared_claim else [resource_claim_template(fit, namespace)]
    return [*claim, deployment(fit, namespace), service(fit, namespace), pod_disruption_budget(fit, namespace)]


@dataclass(frozen=True)
class ModelServingArgs:
    fits: list[Fit]
    """The chosen fits of this cluster's model deployments (every one has ``chosen``)."""
    provider: k8s.Provider
    namespaces: dict[str, pulumi.Resource] = field(default_factory=dict)
    """Team namespace resources (from the DRA/teams component), so objects wait for their namespace."""
    http_policy_sources: dict[str, list[str]] = field(default_factory=dict)
    """Team -> namespaces allowed to call its models (``GpuDra.model_ingress``); teams absent get no L7 policy."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """E.g. the DRA driver and its DeviceClasses, the GPU pools."""


class ModelServing(pulumi.ComponentResource):
    """All model deployments of one cluster."""

    services: dict[str, str]

    def __init__(self, name: str, args: ModelServingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:ModelServing", name, None, opts)
        self.services = {}
        for fit in args.fits:
            namespace = fit.spec.team
            deps = [*args.depends_on, *([args.namespaces[namespace]] if namespace in args.namespaces else [])]
            child = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=deps)
            objects = {obj["kind"]: obj for obj in manifests(fit, namespace)}
            dep, svc, pdb = objects["Deployment"], objects["Service"], objects["PodDisruptionBudget"]
            before_pods: list[pulumi.Resource] = []
            if "ResourceClaimTemplate" in objects:
                rct = objects["ResourceClaimTemplate"]
                before_pods.append(
                    k8s.resource.v1.ResourceClaimTemplate(
                        f"{name}-{fit.name}-claim", metadata=rct["metadata"], spec=rct["spec"], opts=child
                    )
                )
            if namespace in args.http_policy_sources:
                # Before the pods: the namespace's NetworkPolicy leaves model servers to this policy.
                cnp = http_policy(fit, namespace, args.http_policy_sources[namespace])
                before_pods.append(
                    k8s.apiextensions.CustomResource(
                        f"{name}-{fit.name}-http-policy",
                        api_version=cnp["apiVersion"],
                        kind=cnp["kind"],
                        metadata=cnp["metadata"],
                        spec=cnp["spec"],
                        opts=child,
                    )
                )
            dep_opts = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=before_pods))
            k8s.apps.v1.Deployment(
                f"{name}-{fit.name}-deployment", metadata=dep["metadata"], spec=dep["spec"], opts=dep_opts
            )
            k8s.core.v1.Service(f"{name}-{fit.name}-service", metadata=svc["metadata"], spec=svc["spec"], opts=child)
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-{fit.name}-pdb", metadata=pdb["metadata"], spec=pdb["spec"], opts=child
            )
            self.services[fit.name] = f"http://{fit.name}.{namespace}.svc.cluster.local:{PORT}/v1"
        self.register_outputs({"services": self.services})
