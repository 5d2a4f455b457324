"""Dashboards as code: components/dashboards/*.json deployed into Managed Grafana by ``pulumi up``.

Why a job: a Managed Grafana instance has no ARM child resource for the dashboards inside it (the azure-native
``dashboard`` module's ``Dashboard``/``DashboardDefinition`` are ``Microsoft.Dashboard/dashboards``, Azure Monitor's
own dashboards, not Grafana's), and a Grafana provider would need a Grafana service-account token in the stack's
config. Managed Grafana's HTTP API accepts Entra ID tokens (audience :data:`GRAFANA_AUDIENCE`) from identities that
hold a Grafana role, so a Kubernetes Job with workload identity posts the dashboards itself: no secret anywhere.

Builds (``ai-platform:monitoring.grafana.dashboards``, off by default; on in staging and prod), on the first
monitored cluster in the stack's region (else the
first by key):

- stack level: a user-assigned identity ``id-<prefix>-<env>-dashboards`` with "Grafana Editor" on the instance and a
  federated identity credential for ``system:serviceaccount:grafana-dashboards:grafana-dashboards`` on that
  cluster's OIDC issuer;
- in the cluster: namespace ``grafana-dashboards``, its ServiceAccount (annotated with the identity's client id),
  a ConfigMap holding one ``POST /api/dashboards/db`` body per dashboard (``overwrite: true``) and a Job named after
  a hash of those bodies, running :data:`AZURE_CLI_IMAGE`: ``az login --federated-token`` then one ``az rest
  --resource <Grafana audience>`` per dashboard.

Run time: a changed dashboard changes the hash, so Pulumi replaces the Job (create the new one, then delete the old)
and the new one posts again; an unchanged one is left alone, so later ``pulumi up`` runs post nothing. Pulumi waits
for the Job to complete (pulumi-kubernetes awaits Jobs; timeout 20 minutes). The Grafana Editor assignment can take
minutes to apply: the job retries (``backoffLimit: 6``, Kubernetes' exponential back-off, about ten minutes in all).
The pod runs on the system pool (it tolerates ``CriticalAddonsOnly``), as a non-root user with no capabilities.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from components._common import PROJECT, short_hash
from components.facts import DASHBOARDS_NAMESPACE, SYSTEM_TAINT, WORKLOAD_IDENTITY_USE_LABEL
from components.observability.spec import AZURE_CLI_IMAGE, DASHBOARDS, GRAFANA_AUDIENCE

DASHBOARDS_SERVICE_ACCOUNT = "grafana-dashboards"
DASHBOARDS_CONFIGMAP = "grafana-dashboards"
_LABELS = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": PROJECT}

SCRIPT = f"""set -eu
az login --service-principal --username "$AZURE_CLIENT_ID" --tenant "$AZURE_TENANT_ID" \\
  --federated-token "$(cat "$AZURE_FEDERATED_TOKEN_FILE")" --allow-no-subscriptions --output none
for body in /dashboards/*.json; do
  echo "posting $body"
  az rest --method post --url "${{GRAFANA_URL%/}}/api/dashboards/db" --resource {GRAFANA_AUDIENCE} \\
    --headers Content-Type=application/json --body "@$body" --output none
done
"""


def dashboard_bodies() -> dict[str, str]:
    """``<name>.json`` -> the body of Grafana's ``POST /api/dashboards/db``: the dashboard (its ``uid`` kept, ``id``
    null so Grafana matches by uid) and ``overwrite: true``."""
    bodies = {}
    for name, path in sorted(DASHBOARDS.items()):
        dashboard = json.loads(path.read_text())
        dashboard["id"] = None
        body = {"dashboard": dashboard, "overwrite": True, "message": f"deployed by {PROJECT} (pulumi up)"}
        bodies[f"{name}.json"] = json.dumps(body, sort_keys=True)
    return bodies


def dashboards_hash(bodies: Mapping[str, str]) -> str:
    """Of the bodies, the image and the script: anything that changes the Job's (immutable) pod template renames it."""
    parts = [AZURE_CLI_IMAGE, SCRIPT, *(f"{k}={v}" for k, v in sorted(bodies.items()))]
    return short_hash("\n".join(parts), 10)


def dashboards_namespace_object() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": DASHBOARDS_NAMESPACE,
            "labels": {**_LABELS, "pod-security.kubernetes.io/enforce": "restricted"},
        },
    }


def dashboards_service_account_object(client_id: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": DASHBOARDS_SERVICE_ACCOUNT,
            "namespace": DASHBOARDS_NAMESPACE,
            "labels": dict(_LABELS),
            "annotations": {"azure.workload.identity/client-id": client_id},
        },
    }


def dashboards_configmap_object(bodies: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": DASHBOARDS_CONFIGMAP, "namespace": DASHBOARDS_NAMESPACE, "labels": dict(_LABELS)},
        "data": dict(bodies),
    }


def dashboards_job_object(grafana_url: Any, bodies: Mapping[str, str]) -> dict[str, Any]:
    """The Job that posts the dashboards; its name carries the hash of what it posts. ``grafana_url`` may be an
    Output (Grafana's endpoint is known only once it exists): everything else is literal, so the plan shows it."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"grafana-dashboards-{dashboards_hash(bodies)}",
            "namespace": DASHBOARDS_NAMESPACE,
            "labels": dict(_LABELS),
        },
        "spec": {
            "backoffLimit": 6,
            "activeDeadlineSeconds": 1200,
            "template": {
                "metadata": {"labels": {**_LABELS, WORKLOAD_IDENTITY_USE_LABEL: "true"}},
                "spec": {
                    "serviceAccountName": DASHBOARDS_SERVICE_ACCOUNT,
                    "restartPolicy": "Never",
                    "tolerations": [{"key": SYSTEM_TAINT.key, "operator": "Exists", "effect": SYSTEM_TAINT.effect}],
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 1000,
                        "runAsGroup": 1000,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "post",
                            "image": AZURE_CLI_IMAGE,
                            "command": ["/bin/sh", "-c", SCRIPT],
                            "env": [
                                {"name": "GRAFANA_URL", "value": grafana_url},
                                {"name": "AZURE_CONFIG_DIR", "value": "/tmp/azure"},
                                {"name": "HOME", "value": "/tmp"},
                            ],
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "128Mi"},
                                "limits": {"memory": "512Mi"},
                            },
                            "volumeMounts": [
                                {"name": "dashboards", "mountPath": "/dashboards", "readOnly": True},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "dashboards", "configMap": {"name": DASHBOARDS_CONFIGMAP}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    ],
                },
            },
        },
    }
