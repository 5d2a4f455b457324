"""The Kubernetes objects of one model deployment, and the component that applies them.

Per ``models.<name>``, in the team's namespace: a ``ResourceClaimTemplate`` claiming TP devices of the
chosen sharing profile's DeviceClass, a vLLM ``Deployment`` whose pods reference it (``spec.resourceClaims``
and container ``resources.claims``) and are pinned to the active colour of the chosen pool, a ``Service`` on
port 8000 and a ``PodDisruptionBudget``; for a gated (or private) checkpoint, a ``Secret`` with the Hugging Face
token copied from Pulumi secret config (``ai-platform-secrets:<key>``).

What a first deploy waits for (:mod:`components.serving.timing` holds every figure): the Deployment depends on
the AgentPool its pods are placed on, so Pulumi creates it only once that pool exists; its ``custom_timeouts``
cover a node from zero, the vLLM image pull and the checkpoint download and load, because pulumi-kubernetes
otherwise fails the Deployment (and the Service, awaited until it has ready endpoints) after 10 minutes.
On a cluster with a weight cache (``clusters.<c>.weightCache``, components/serving/cache.py) pods instead mount
the cache read-only and wait for their checkpoint's fill Job. Otherwise the checkpoint is downloaded into an
``emptyDir`` sized from the checkpoint itself (parameters x its stored dtype), on the node's OS disk (AKS
``kubeletDiskType: OS``): :func:`load_issues` refuses a checkpoint that disk cannot hold, and a 16-bit checkpoint
quantized at load time that would not fit the GPU before quantization.

On clusters with L7 Cilium policies (ACNS security, ``policies: L7``) and a team with ``networkIsolation``, a
``cilium.io/v2`` ``CiliumNetworkPolicy`` admits only the OpenAI-compatible API calls (method and path) on port 8000
from the team's namespace and its ``allowIngressFrom`` namespaces, and ``GET /metrics`` from the managed Prometheus
collector. The object builders are pure functions (tested for strict schema validity); :class:`ModelServing` only
registers what they return.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components._common import PROJECT, TYPE_PREFIX, ConfigError, Issue
from components.facts import (
    LABEL_COLOUR,
    LABEL_GROUP,
    METRICS_COLLECTOR,
    MODEL_LABEL,
    RAY_MODEL_LABEL,
    RESOURCE_API_VERSION,
)
from components.serving import timing
from components.serving.fit import AMPERE, COMPUTE_CAPABILITY, GIB, RUNTIME_GIB, SURGE, Fit, vllm_memory_utilisation
from components.serving.runtimes import kaito, kuberay
from components.serving.spec import WEIGHT_BYTES, ModelDeploymentSpec
from components.weight_cache import CLAIM_READ, MOUNT_PATH, READER_SERVICE_ACCOUNT, model_path

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
SECRETS_NAMESPACE = f"{PROJECT}-secrets"
"""Config namespace of secret values (the same one monitoring's webhook URLs use)."""


def labels(name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "vllm",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": "model-server",
        "app.kubernetes.io/managed-by": "pulumi",
        MODEL_LABEL: name,
    }


def _secret_labels() -> dict[str, str]:
    return {"app.kubernetes.io/component": "model-server", "app.kubernetes.io/managed-by": "pulumi"}


def _selector(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": name}


def _metadata(name: str, namespace: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": labels(name)}


def download_gib(spec: ModelDeploymentSpec) -> float:
    """GiB the server downloads: the checkpoint's parameters x its stored bytes per parameter."""
    arch = spec.arch
    assert arch is not None
    return timing.checkpoint_gib(arch.parameters_billions, spec.checkpoint.stored_precision)


def weight_volume_gib(spec: ModelDeploymentSpec) -> int:
    """``sizeLimit`` of the weight ``emptyDir`` (the checkpoint plus margin)."""
    return timing.weight_volume_gib(download_gib(spec))


def server_image(fit: Fit) -> str:
    """The image the model server pulls: the spec's vLLM image, Ray's LLM image, or KAITO's preset image."""
    return {"kaito": kaito.IMAGE, "kuberay": kuberay.RAY_IMAGE}.get(fit.spec.runtime, fit.spec.image)


def await_timeouts(fit: Fit, cached: bool = False) -> dict[str, str]:
    """The Deployment's (and its Service's; a Workspace's or RayService's) ``custom_timeouts``: every replica
    Ready after a first deploy, and a rollout that brings up the runtime's surge at a time (``cached``: no
    download per pod)."""
    surge = fit.chosen.surge if fit.chosen else SURGE
    return timing.await_timeouts(
        download_gib(fit.spec), server_image(fit), fit.spec.replicas, surge, cached, fit.spec.runtime
    )


def token_secret_name(key: str) -> str:
    """The team-namespace Secret holding the token of ``ai-platform-secrets:<key>`` (key ``token``)."""
    return f"hf-token-{key.lower()}"


def load_issues(fits: list[Fit], cached_clusters: frozenset[str] = frozenset()) -> list[Issue]:
    """What the chosen placement cannot load: a checkpoint larger than the node's disk leaves for pods, or a
    16-bit checkpoint quantized at load time whose 16-bit weights do not fit the GPU (vLLM holds them first).
    On ``cached_clusters`` (weight cache on) pods stream weights from the cache: no node disk for them."""
    issues: list[Issue] = []
    for fit in fits:
        chosen, spec = fit.chosen, fit.spec
        arch = spec.arch
        if chosen is None or arch is None or spec.runtime == "kaito":
            continue  # KAITO downloads and stores its preset's weights itself
        checkpoint = spec.checkpoint
        if checkpoint.online_quantization:
            sixteen = arch.parameters_billions * 1e9 * WEIGHT_BYTES[checkpoint.stored_precision] / chosen.tp / GIB
            need = sixteen * 1.02 + RUNTIME_GIB
            if need > chosen.device_memory_gib:
                issues.append(
                    Issue(
                        ("models", fit.name, "precision"),
                        f"{spec.effective_precision} has no pre-quantized checkpoint for this model, and quantizing "
                        f"{checkpoint.repo} at load time first holds its {checkpoint.stored_precision} weights: "
                        f"{need:.1f} GiB per GPU at TP {chosen.tp} > {chosen.device_memory_gib:g} GiB "
                        f"({chosen.pool_group}/{chosen.profile})",
                        spec.effective_precision,
                        "a precision with a catalog checkpoint (" + ", ".join(sorted(arch.sources)) + ")",
                        "set source (and sourcePrecision) to a pre-quantized checkpoint, or pick a larger profile",
                    )
                )
        slot = chosen.slot
        volume = (0 if spec.cluster in cached_clusters else weight_volume_gib(spec)) + timing.TMP_GIB
        free = timing.node_disk_for_pods_gib(slot.spec.os_disk_size_gb, spec.image)
        if volume > free:
            needed_gb = math.ceil(
                (volume + timing.OS_RESERVED_GIB.value + sum(timing.image_gib(spec.image)))
                / (1 - timing.NODEFS_EVICTION.value)
                * GIB
                / 1e9
            )
            issues.append(
                Issue(
                    ("clusters", spec.cluster, "gpuPools", slot.group, "slots", slot.colour, "osDiskSizeGb"),
                    f"leaves {max(free, 0):.0f} GiB for pods' emptyDir volumes (kubelet uses the OS disk on AKS) but "
                    f"models.{fit.name} downloads {checkpoint.repo} ({download_gib(spec):.0f} GiB as "
                    f"{checkpoint.stored_precision}) into a {volume} GiB volume",
                    slot.spec.os_disk_size_gb,
                    f">= {needed_gb} (<= 2048)",
                    f"raise osDiskSizeGb to {needed_gb}, or serve a pre-quantized (smaller) checkpoint",
                )
            )
    return issues


def token_config_keys(models: dict[str, ModelDeploymentSpec]) -> list[str]:
    """The full secret config keys (``ai-platform-secrets:<key>``) the model deployments read."""
    return sorted({f"{SECRETS_NAMESPACE}:{s.token_key}" for s in models.values() if s.token_key})


def read_hf_tokens(models: dict[str, ModelDeploymentSpec], source: str) -> dict[str, pulumi.Output[str]]:
    """The Hugging Face tokens the deployments need, as secret Outputs; a gated model without its token is a
    configuration error before anything registers."""
    config = pulumi.Config(SECRETS_NAMESPACE)
    tokens: dict[str, pulumi.Output[str]] = {}
    missing: list[str] = []
    for name, spec in sorted(models.items()):
        key = spec.token_key
        if key is None or key in tokens:
            continue
        value = config.get_secret(key)
        if value is None:
            why = f"gated Hugging Face checkpoint {spec.effective_source}" if spec.gated else "hfToken"
            missing.append(
                f"{source}: {SECRETS_NAMESPACE}:{key}: is required by {PROJECT}:models.{name} ({why}) (got nothing). "
                f"Fix: pulumi config set --secret {SECRETS_NAMESPACE}:{key} <Hugging Face read token>"
            )
        else:
            tokens[key] = value
    if missing:
        raise ConfigError(sorted(set(missing)))
    return tokens


def vllm_args(fit: Fit, cached: bool = False) -> list[str]:
    """The vLLM server flags that realise the fit: TP, context, concurrency, memory share, precision."""
    chosen, spec = fit.chosen, fit.spec
    assert chosen is not None
    assert chosen.estimate is not None
    # vLLM takes its fraction of the *whole* GPU; time-shared tenants each take only what they need.
    utilisation = vllm_memory_utilisation(chosen)
    precision = spec.effective_precision
    args = [
        "--model",
        # From the cluster's weight cache (mounted read-only), or downloaded from the Hub by the pod.
        model_path(spec.effective_source) if cached else spec.effective_source,
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
    if spec.checkpoint.online_quantization:
        # Only when no pre-quantized checkpoint exists: vLLM loads the 16-bit weights, then quantizes
        # (load_issues checked that the 16-bit weights fit the GPU). A pre-quantized checkpoint's config.json
        # carries its quantization_config, which vLLM reads by itself.
        args += ["--quantization", "fp8"]
    if spec.kv_cache_dtype == "fp8":
        args += ["--kv-cache-dtype", "fp8"]
    return args


def _claim_template_spec(fit: Fit) -> dict[str, Any]:
    chosen = fit.chosen
    assert chosen is not None
    request = {"deviceClassName": chosen.device_class, "allocationMode": "ExactCount", "count": chosen.tp}
    return {"spec": {"devices": {"requests": [{"name": CLAIM, "exactly": request}]}}}


def claim_template_name(fit: Fit) -> str:
    """``<model>-gpu-<hash of the request>``.

    A ResourceClaimTemplate's spec is immutable (resource.k8s.io/v1 API reference: "This field is immutable"),
    so a new device class or TP (a blue-green switch to another profile) must be a new template. With the
    request in the name, Pulumi creates the new template first, rolls the Deployment onto it (maxUnavailable 0)
    and deletes the old one last; pods still running keep the claims they were given.
    """
    digest = hashlib.sha256(json.dumps(_claim_template_spec(fit), sort_keys=True).encode()).hexdigest()[:8]
    return f"{fit.name}-gpu-{digest}"


def _pod_claim(fit: Fit) -> dict[str, str]:
    """Own claim template (TP devices) or, time-shared, the team's shared claim the placement assigned."""
    if fit.shared_claim:
        return {"name": CLAIM, "resourceClaimName": fit.shared_claim}
    return {"name": CLAIM, "resourceClaimTemplateName": claim_template_name(fit)}


def resource_claim_template(fit: Fit, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": RESOURCE_API_VERSION,
        "kind": "ResourceClaimTemplate",
        "metadata": _metadata(claim_template_name(fit), namespace),
        "spec": _claim_template_spec(fit),
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


def _weights(spec: ModelDeploymentSpec, cached: bool) -> dict[str, Any]:
    """The weight volume and its mount: the cluster's weight cache read-only (``cached``), else an emptyDir sized
    from the checkpoint actually downloaded (its stored dtype, not the serving precision)."""
    if cached:
        return {
            "volume": {"name": "models", "persistentVolumeClaim": {"claimName": CLAIM_READ, "readOnly": True}},
            "mount": {"name": "models", "mountPath": MOUNT_PATH, "readOnly": True},
            "ephemeralGiB": 0,
            "env": [{"name": "HF_HOME", "value": "/tmp/hf"}, {"name": "HF_HUB_OFFLINE", "value": "1"}],
        }
    gib = weight_volume_gib(spec)
    return {
        "volume": {"name": "models", "emptyDir": {"sizeLimit": f"{gib}Gi"}},
        "mount": {"name": "models", "mountPath": "/models"},
        "ephemeralGiB": gib,
        "env": [{"name": "HF_HOME", "value": "/models/hf"}],
    }


def deployment(fit: Fit, namespace: str, cached: bool = False) -> dict[str, Any]:
    chosen, spec = fit.chosen, fit.spec
    assert chosen is not None
    assert chosen.estimate is not None
    host = _host_resources(fit)
    weights = _weights(spec, cached)
    ephemeral_gib = weights["ephemeralGiB"] + timing.TMP_GIB
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": "/tmp/home"},
        *weights["env"],
        {"name": "XDG_CACHE_HOME", "value": "/tmp/cache"},
        {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
        {"name": "DO_NOT_TRACK", "value": "1"},
    ]
    if spec.token_key and not cached:  # a cached checkpoint was downloaded by its fill Job
        env.append(
            {
                "name": "HF_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": token_secret_name(spec.token_key), "key": "token"}},
            }
        )
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
                    # The reader's token (handed by kubelet to the Blob CSI driver, never mounted) mounts the cache.
                    **({"serviceAccountName": READER_SERVICE_ACCOUNT} if cached else {}),
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
                            "args": vllm_args(fit, cached),
                            "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
                            "env": env,
                            "resources": {
                                # The scheduler places the pod only where the node's disk holds its volumes.
                                "requests": {**host, "ephemeral-storage": f"{ephemeral_gib}Gi"},
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
                                weights["mount"],
                                {"name": "tmp", "mountPath": "/tmp"},
                                {"name": "shm", "mountPath": "/dev/shm"},
                            ],
                        }
                    ],
                    "volumes": [
                        weights["volume"],
                        {"name": "tmp", "emptyDir": {"sizeLimit": f"{timing.TMP_GIB}Gi"}},
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


def kaito_objects(fit: Fit, namespace: str) -> list[dict[str, Any]]:
    """runtime kaito: the inference ConfigMap and the Workspace (components/serving/runtimes/kaito.py)."""
    chosen, spec = fit.chosen, fit.spec
    assert chosen is not None
    meta_labels = labels(fit.name) | {"app.kubernetes.io/name": "kaito"}
    config = kaito.config_map(
        fit.name, namespace, meta_labels, spec.context_length, spec.concurrency, chosen.utilisation
    )
    return [
        config,
        kaito.workspace(
            fit.name,
            namespace,
            meta_labels,
            spec.model or "",
            chosen.sku.vm_size,
            chosen.slot.pool_id,
            chosen.slot.colour,
            spec.replicas,
            spec.token_key,
            config["metadata"]["name"],
        ),
    ]


def kuberay_objects(fit: Fit, namespace: str) -> list[dict[str, Any]]:
    """runtime kuberay: the worker claim template (TP GPUs per pod) and the RayService."""
    chosen, spec = fit.chosen, fit.spec
    assert chosen is not None
    precision = spec.effective_precision
    bf16_ok = COMPUTE_CAPABILITY.get(chosen.sku.gpu.name, 0.0) >= AMPERE
    dtype = (
        ("bfloat16" if precision in ("bf16", "fp8") and bf16_ok else "half")
        if precision
        in (
            "bf16",
            "fp16",
            "fp8",
        )
        else None
    )
    # Pod labels without the model label: the namespace NetworkPolicy keeps covering Ray's pods (no L7 policy).
    pod_labels = {k: v for k, v in labels(fit.name).items() if k != MODEL_LABEL} | {
        "app.kubernetes.io/name": "ray",
        RAY_MODEL_LABEL: fit.name,
    }
    return [
        resource_claim_template(fit, namespace),
        kuberay.operator_ingress_policy(fit.name, namespace),
        kuberay.ray_service(
            fit.name,
            namespace,
            pod_labels,
            source=spec.effective_source,
            tp=chosen.tp,
            pp=chosen.pp,
            replicas=spec.replicas,
            context_length=spec.context_length,
            concurrency=spec.concurrency,
            utilisation=chosen.utilisation,
            dtype=dtype,
            kv_cache_dtype=spec.kv_cache_dtype,
            pool_id=chosen.slot.pool_id,
            colour=chosen.slot.colour,
            tolerations=chosen.slot.workload_tolerations(),
            host=_host_resources(fit),
            weights_gib=weight_volume_gib(spec),
            tmp_gib=timing.TMP_GIB,
            claim_template=claim_template_name(fit),
            token_secret=token_secret_name(spec.token_key) if spec.token_key else None,
        ),
    ]


def manifests(fit: Fit, namespace: str, cached: bool = False) -> list[dict[str, Any]]:
    """The model's objects for its runtime; time-shared vLLM deployments use the team's shared claim
    (``cached``: a vLLM pod mounts the cluster's weight cache; KAITO and KubeRay download for themselves)."""
    if fit.spec.runtime == "kaito":
        return kaito_objects(fit, namespace)
    if fit.spec.runtime == "kuberay":
        return kuberay_objects(fit, namespace)
    claim = [] if fit.shared_claim else [resource_claim_template(fit, namespace)]
    return [
        *claim,
        deployment(fit, namespace, cached),
        service(fit, namespace),
        pod_disruption_budget(fit, namespace),
    ]


def endpoint(fit: Fit, namespace: str) -> str:
    """The OpenAI-compatible base URL of the model inside the cluster."""
    if fit.spec.runtime == "kaito":
        return f"http://{fit.name}.{namespace}.svc.cluster.local:{kaito.SERVICE_PORT}/v1"
    if fit.spec.runtime == "kuberay":
        return f"http://{kuberay.service_name(fit.name)}.{namespace}.svc.cluster.local:{kuberay.SERVE_PORT}/v1"
    return f"http://{fit.name}.{namespace}.svc.cluster.local:{PORT}/v1"


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
    """E.g. the DRA driver and its DeviceClasses."""
    pools: dict[str, pulumi.Resource] = field(default_factory=dict)
    """AgentPool per pool name: each Deployment waits for the pool its pods are placed on."""
    hf_tokens: dict[str, pulumi.Output[str]] = field(default_factory=dict)
    """``ai-platform-secrets`` key -> token (secret Output), from :func:`read_hf_tokens`."""
    cached_models: dict[str, list[pulumi.Resource]] = field(default_factory=dict)
    """Model -> what it waits for when served from the cluster's weight cache (its fill Job, read-only claim;
    components/serving/cache.py ``ModelWeightCache.model_dependencies``); models absent download their own."""


class ModelServing(pulumi.ComponentResource):
    """All model deployments of one cluster, each through its runtime (vLLM Deployment, KAITO Workspace,
    KubeRay RayService); the KubeRay operator chart once per cluster when a model uses it."""

    services: dict[str, str]
    releases: dict[str, k8s.helm.v3.Release]

    def __init__(self, name: str, args: ModelServingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:ModelServing", name, None, opts)
        self.services = {}
        self.releases = {}
        token_secrets: dict[tuple[str, str, str], pulumi.Resource] = {}
        if any(f.spec.runtime == "kuberay" for f in args.fits):
            # The operator (and its CRDs) before any RayService; on the system pool, not waiting for GPU pools.
            self.releases["kuberay-operator"] = k8s.helm.v3.Release(
                f"{name}-kuberay-operator",
                name="kuberay-operator",
                chart=kuberay.CHART,
                version=kuberay.CHART_VERSION,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=kuberay.CHART_REPOSITORY),
                namespace=kuberay.OPERATOR_NAMESPACE,
                create_namespace=True,
                values=kuberay.operator_values(),
                opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
            )
        for fit in args.fits:
            namespace = fit.spec.team
            deps = [*args.depends_on, *([args.namespaces[namespace]] if namespace in args.namespaces else [])]
            child = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=deps)
            assert fit.chosen is not None
            pool = args.pools.get(fit.chosen.slot.pool_name)
            runtime = fit.spec.runtime
            # A cached checkpoint is downloaded by its fill Job (with the cache namespace's copy of the token).
            cached = fit.name in args.cached_models
            key = None if cached else fit.spec.token_key
            before_pods: list[pulumi.Resource] = []
            after: list[pulumi.Resource] = []
            # The token Secret, the cache fill and the pool come last in each workload's depends_on.
            if key is not None:
                # KAITO reads the token from its own key (HF_TOKEN); the other runtimes from `token`.
                secret_name, secret_key = (
                    (kaito.token_secret_name(key), kaito.TOKEN_KEY)
                    if runtime == "kaito"
                    else (token_secret_name(key), "token")
                )
                if (namespace, key, secret_name) not in token_secrets:
                    token_secrets[namespace, key, secret_name] = k8s.core.v1.Secret(
                        f"{name}-{namespace}-{secret_name}",
                        metadata={"name": secret_name, "namespace": namespace, "labels": _secret_labels()},
                        type="Opaque",
                        string_data={secret_key: args.hf_tokens[key]},  # a secret Output (Config.get_secret)
                        opts=child,
                    )
                after.append(token_secrets[namespace, key, secret_name])
            after += args.cached_models.get(fit.name, [])
            # The pool its pods are placed on: pools of a cluster are created one after another, so without this
            # the workload would start its await long before any node it can use exists (and KAITO would
            # provision nodes of its own for the shortfall).
            if pool is not None:
                after.append(pool)
            # Awaited until every replica is Ready (and the Service until it has ready endpoints): longer than
            # pulumi-kubernetes' 10-minute default (components/serving/timing.py).
            awaited = pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(**await_timeouts(fit, cached)))
            self.services[fit.name] = endpoint(fit, namespace)
            objects = {obj["kind"]: obj for obj in manifests(fit, namespace, cached)}
            if runtime == "kaito":
                self._kaito(name, fit, objects, child, after, awaited)
                continue
            if "ResourceClaimTemplate" in objects:
                rct = objects["ResourceClaimTemplate"]
                before_pods.append(
                    k8s.resource.v1.ResourceClaimTemplate(
                        f"{name}-{fit.name}-claim", metadata=rct["metadata"], spec=rct["spec"], opts=child
                    )
                )
            if runtime == "kuberay":
                ingress = objects["NetworkPolicy"]
                before_pods.append(
                    k8s.networking.v1.NetworkPolicy(
                        f"{name}-{fit.name}-kuberay-operator",
                        metadata=ingress["metadata"],
                        spec=ingress["spec"],
                        opts=child,
                    )
                )
                rs = objects["RayService"]
                k8s.apiextensions.CustomResource(
                    f"{name}-{fit.name}-rayservice",
                    api_version=rs["apiVersion"],
                    kind=rs["kind"],
                    metadata=rs["metadata"],
                    spec=rs["spec"],
                    opts=pulumi.ResourceOptions.merge(
                        pulumi.ResourceOptions.merge(
                            child, pulumi.ResourceOptions(depends_on=[*before_pods, *after, *self.releases.values()])
                        ),
                        awaited,
                    ),
                )
                continue
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
            dep, svc, pdb = objects["Deployment"], objects["Service"], objects["PodDisruptionBudget"]
            dep_opts = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[*before_pods, *after]))
            dep_opts = pulumi.ResourceOptions.merge(dep_opts, awaited)
            k8s.apps.v1.Deployment(
                f"{name}-{fit.name}-deployment", metadata=dep["metadata"], spec=dep["spec"], opts=dep_opts
            )
            k8s.core.v1.Service(
                f"{name}-{fit.name}-service",
                metadata=svc["metadata"],
                spec=svc["spec"],
                opts=pulumi.ResourceOptions.merge(child, awaited),
            )
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-{fit.name}-pdb", metadata=pdb["metadata"], spec=pdb["spec"], opts=child
            )
        self.register_outputs({"services": self.services})

    def _kaito(
        self,
        name: str,
        fit: Fit,
        objects: dict[str, dict[str, Any]],
        child: pulumi.ResourceOptions,
        before: list[pulumi.Resource],
        awaited: pulumi.ResourceOptions,
    ) -> None:
        """The ConfigMap, then the Workspace (KAITO's webhook refuses a Workspace whose config does not exist)."""
        cm = objects["ConfigMap"]
        config = k8s.core.v1.ConfigMap(
            f"{name}-{fit.name}-inference", metadata=cm["metadata"], data=cm["data"], opts=child
        )
        ws = objects["Workspace"]
        # KAITO refuses changes to resource (count, instanceType, labelSelector: a replica change or a blue-green
        # switch) and to the preset: those replace the Workspace, the old one deleted first (same name and Service).
        immutable = pulumi.ResourceOptions(replace_on_changes=kaito.IMMUTABLE_FIELDS, delete_before_replace=True)
        opts = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[config, *before]))
        opts = pulumi.ResourceOptions.merge(opts, immutable)
        KaitoWorkspace(f"{name}-{fit.name}-workspace", ws, pulumi.ResourceOptions.merge(opts, awaited))


class KaitoWorkspace(pulumi.CustomResource):
    """A ``kaito.sh/v1beta1`` Workspace through the Kubernetes provider.

    ``k8s.apiextensions.CustomResource`` takes only ``spec``; a Workspace has no spec (``resource`` and
    ``inference`` are top-level fields), so the object goes to the provider whole, as its ``kubernetes:<apiVersion>:
    <kind>`` type (what CustomResource registers too).
    """

    def __init__(self, name: str, obj: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        super().__init__(f"kubernetes:{obj['apiVersion']}:{obj['kind']}", name, dict(obj), opts)
