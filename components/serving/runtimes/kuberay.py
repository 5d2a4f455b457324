"""KubeRay runtime: the KubeRay operator chart per cluster, and a ``ray.io/v1`` RayService per model.

What it builds: the operator from its official chart (``kuberay-operator`` 1.7.0 from
``https://ray-project.github.io/kuberay-helm/``, on the system pool), and per ``models.<name>`` with
``runtime: kuberay`` a ``ResourceClaimTemplate`` (TP whole GPUs of the chosen profile) plus a ``RayService``:

- ``serveConfigV2`` runs Ray Serve LLM (``ray.serve.llm:build_openai_app``) with the fit's
  ``tensor_parallel_size`` (the GPUs of one node) and ``pipeline_parallel_size`` (nodes per replica), context and
  concurrency; Ray Serve LLM's default ``PACK`` placement spills a replica's GPU bundles to further nodes when one
  node cannot hold them (docs.ray.io, Ray Serve LLM "Cross-node parallelism");
- a head group (no GPUs, ``num-gpus: 0``) and one worker group of ``pp x replicas`` pods, each claiming its TP GPUs
  through the claim template (``spec.resourceClaims`` / ``resources.claims``; ``rayStartParams.num-gpus`` tells
  Ray how many, since KubeRay derives it only from ``nvidia.com/gpu`` limits), all pinned to the active colour of
  the one pool group, tolerating its GPU taint;
- ``upgradeStrategy: NewCluster``: a spec change brings up a second RayCluster and moves traffic when it is ready
  (the fit reserves capacity and quota for it);
- the annotation ``pulumi.com/waitFor: condition=Ready`` makes Pulumi await the RayService's ``Ready`` condition
  (``rayservice_types.go`` ``RayServiceReady``) within the model's ``customTimeouts``.

Ray Serve answers the OpenAI API on the ``<name>-serve-svc`` Service KubeRay creates (port 8000). The pods run as
the image's ``ray`` user (uid 1000), non-root, read-only root filesystem, no privilege escalation, no
service-account token (in-tree autoscaling is off: the replica count is the fit's).
"""

from __future__ import annotations

from typing import Any

import yaml

from components.dra.spec import SYSTEM_NODE_SELECTOR
from components.facts import LABEL_COLOUR, LABEL_GROUP, NAMESPACE_NAME_LABEL, RAY_MODEL_LABEL, SYSTEM_TAINT
from components.images import IMAGES

CHART_REPOSITORY = "https://ray-project.github.io/kuberay-helm/"
CHART = "kuberay-operator"
CHART_VERSION = "1.7.0"
"""ray-project/kuberay tag v1.7.0 (helm-chart/kuberay-operator/Chart.yaml ``version: 1.7.0``)."""
OPERATOR_NAMESPACE = "kuberay-system"
API_VERSION = "ray.io/v1"
RAY_VERSION = "2.52.0"
RAY_IMAGE = IMAGES["ray-llm"].ref
"""The image of KubeRay v1.7.0's own Ray Serve LLM sample (ray-operator/config/samples/ray-service.llm-serve.yaml)."""
SERVE_PORT = 8000
READY_CONDITION = "Ready"
RUN_AS = 1000
CLAIM = "gpu"


def operator_values() -> dict[str, Any]:
    """Chart values (keys of kuberay-operator 1.7.0 values.yaml): the operator on the system pool."""
    return {
        "nodeSelector": dict(SYSTEM_NODE_SELECTOR),
        "tolerations": [{"key": SYSTEM_TAINT.key, "operator": "Exists", "effect": SYSTEM_TAINT.effect}],
    }


def service_name(name: str) -> str:
    """The Service KubeRay creates for a RayService's Serve endpoint."""
    return f"{name}-serve-svc"


def serve_config(
    name: str,
    source: str,
    tp: int,
    pp: int,
    replicas: int,
    context_length: int,
    concurrency: int,
    utilisation: float,
    dtype: str | None,
    kv_cache_dtype: str,
) -> str:
    engine: dict[str, Any] = {
        "tensor_parallel_size": tp,
        "pipeline_parallel_size": pp,
        "max_model_len": context_length,
        "max_num_seqs": concurrency,
        "gpu_memory_utilization": round(utilisation, 2),
    }
    if dtype:
        engine["dtype"] = dtype
    if kv_cache_dtype != "auto":
        engine["kv_cache_dtype"] = kv_cache_dtype
    document = {
        "applications": [
            {
                "name": name,
                "import_path": "ray.serve.llm:build_openai_app",
                "route_prefix": "/",
                "args": {
                    "llm_configs": [
                        {
                            "model_loading_config": {"model_id": name, "model_source": source},
                            "engine_kwargs": engine,
                            "deployment_config": {
                                "autoscaling_config": {"min_replicas": replicas, "max_replicas": replicas}
                            },
                        }
                    ]
                },
            }
        ]
    }
    return yaml.safe_dump(document, sort_keys=False)


def _security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _pod_spec(
    container: dict[str, Any],
    node_selector: dict[str, str],
    tolerations: list[dict[str, str]],
    volumes: list[dict[str, Any]],
    claims: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "nodeSelector": node_selector,
        "tolerations": tolerations,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
    }
    if claims:
        spec["resourceClaims"] = claims
    return spec


DASHBOARD_PORT = 8265
"""The Ray head's dashboard: the operator deploys Serve applications and reads their status through its REST API."""


def operator_ingress_policy(name: str, namespace: str) -> dict[str, Any]:
    """Lets the KubeRay operator reach the model's Ray head (dashboard port only) through the team's ingress
    isolation (NetworkPolicies add up). Pods of the namespace keep reaching it: an isolated team's own policy
    admits them, and a team without isolation would otherwise lose them once this policy selects the head."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"{name}-kuberay-operator", "namespace": namespace},
        "spec": {
            "podSelector": {"matchLabels": {RAY_MODEL_LABEL: name, "ray.io/node-type": "head"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: OPERATOR_NAMESPACE}}}],
                    "ports": [{"protocol": "TCP", "port": DASHBOARD_PORT}],
                },
                {"from": [{"podSelector": {}}]},
            ],
        },
    }


def ray_service(
    name: str,
    namespace: str,
    labels: dict[str, str],
    *,
    source: str,
    tp: int,
    pp: int,
    replicas: int,
    context_length: int,
    concurrency: int,
    utilisation: float,
    dtype: str | None,
    kv_cache_dtype: str,
    pool_id: str,
    colour: str,
    tolerations: list[dict[str, str]],
    host: dict[str, str],
    weights_gib: int,
    tmp_gib: int,
    claim_template: str,
    token_secret: str | None,
) -> dict[str, Any]:
    """The RayService: head (CPU only) and ``pp x replicas`` GPU workers on one pool's active colour."""
    node_selector = {LABEL_GROUP: pool_id, LABEL_COLOUR: colour}
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": "/tmp/home"},
        {"name": "HF_HOME", "value": "/models/hf"},
        {"name": "XDG_CACHE_HOME", "value": "/tmp/cache"},
        {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
        {"name": "DO_NOT_TRACK", "value": "1"},
    ]
    if token_secret:
        env.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": token_secret, "key": "token"}}})
    mounts = [{"name": "models", "mountPath": "/models"}, {"name": "tmp", "mountPath": "/tmp"}]
    volumes = [
        {"name": "models", "emptyDir": {"sizeLimit": f"{weights_gib}Gi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": f"{tmp_gib}Gi"}},
    ]
    head = {
        "name": "ray-head",
        "image": RAY_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        # The head holds no weights: its Hugging Face cache (tokenizer, config for the OpenAI router) goes to /tmp.
        "env": [{**e, "value": "/tmp/hf"} if e["name"] == "HF_HOME" else e for e in env],
        "ports": [
            {"name": "gcs", "containerPort": 6379, "protocol": "TCP"},
            {"name": "dashboard", "containerPort": 8265, "protocol": "TCP"},
            {"name": "client", "containerPort": 10001, "protocol": "TCP"},
            {"name": "serve", "containerPort": SERVE_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 8080, "protocol": "TCP"},
        ],
        "resources": {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"memory": "8Gi"}},
        "securityContext": _security_context(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    worker = {
        "name": "ray-worker",
        "image": RAY_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "env": env,
        "resources": {
            "requests": {**host, "ephemeral-storage": f"{weights_gib + tmp_gib}Gi"},
            "limits": {"memory": host["memory"]},
            "claims": [{"name": CLAIM}],
        },
        "securityContext": _security_context(),
        "volumeMounts": [*mounts, {"name": "shm", "mountPath": "/dev/shm"}],
    }
    workers = pp * replicas
    return {
        "apiVersion": API_VERSION,
        "kind": "RayService",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {"pulumi.com/waitFor": f"condition={READY_CONDITION}"},
        },
        "spec": {
            "upgradeStrategy": {"type": "NewCluster"},
            "serveConfigV2": serve_config(
                name, source, tp, pp, replicas, context_length, concurrency, utilisation, dtype, kv_cache_dtype
            ),
            "rayClusterConfig": {
                "rayVersion": RAY_VERSION,
                "enableInTreeAutoscaling": False,
                "headGroupSpec": {
                    "rayStartParams": {"num-cpus": "0", "num-gpus": "0", "dashboard-host": "0.0.0.0"},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": _pod_spec(
                            head,
                            node_selector,
                            tolerations,
                            [{"name": "tmp", "emptyDir": {"sizeLimit": f"{tmp_gib}Gi"}}],
                        ),
                    },
                },
                "workerGroupSpecs": [
                    {
                        "groupName": "gpu",
                        "replicas": workers,
                        "minReplicas": workers,
                        "maxReplicas": workers,
                        "numOfHosts": 1,
                        "rayStartParams": {"num-gpus": str(tp)},
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": _pod_spec(
                                worker,
                                node_selector,
                                tolerations,
                                [
                                    *volumes,
                                    # Tensor-parallel workers of one node exchange data through shared memory.
                                    {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{2 + 4 * tp}Gi"}},
                                ],
                                [{"name": CLAIM, "resourceClaimTemplateName": claim_template}],
                            ),
                        },
                    }
                ],
            },
        },
    }


def worker_pods(obj: dict[str, Any]) -> list[tuple[dict[str, Any], int]]:
    """(pod spec, pod count) of each worker group and the head, as KubeRay will create them (for the rehearsal)."""
    cluster = (obj.get("spec") or {}).get("rayClusterConfig") or {}
    pods = [(((cluster.get("headGroupSpec") or {}).get("template") or {}).get("spec") or {}, 1)]
    for group in cluster.get("workerGroupSpecs") or []:
        pods.append((((group.get("template") or {}).get("spec")) or {}, int(group.get("replicas") or 1)))
    return pods
