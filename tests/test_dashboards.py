"""Dashboards as code: the job that posts components/dashboards/*.json into Managed Grafana with workload identity,
its identity and grant, the import-command branch, and the Grafana access rules of staging and prod."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.facts import BUILTIN_ROLES, DASHBOARDS_NAMESPACE, WORKLOAD_IDENTITY_USE_LABEL
from components.observability import DASHBOARDS
from components.observability.dashboards import (
    SCRIPT,
    dashboard_bodies,
    dashboards_configmap_object,
    dashboards_hash,
    dashboards_job_object,
    dashboards_namespace_object,
    dashboards_service_account_object,
)
from components.observability.spec import GRAFANA_AUDIENCE
from tests.helpers import DELETE, changed, config_errors
from tests.k8s_schema import validate_strict
from tests.test_observability import BASE, _resources, _run

JOB = "kubernetes:batch/v1:Job"
SECRETS = {"pagerUrl": "https://example.invalid/hook"}


def test_bodies_are_grafana_save_requests() -> None:
    bodies = dashboard_bodies()
    assert set(bodies) == {f"{name}.json" for name in DASHBOARDS}
    for name, text in bodies.items():
        body = json.loads(text)
        source = json.loads(DASHBOARDS[name.removesuffix(".json")].read_text())
        assert body["overwrite"] is True
        assert body["dashboard"]["uid"] == source["uid"], "Grafana matches an existing dashboard by uid"
        assert body["dashboard"]["id"] is None
        assert body["dashboard"]["panels"] == source["panels"]


def test_objects_are_schema_valid_and_locked_down() -> None:
    bodies = dashboard_bodies()
    job = dashboards_job_object("https://graf-aiplat-prod-abc.weu.grafana.azure.com", bodies)
    for obj in (
        dashboards_namespace_object(),
        dashboards_service_account_object("00000000-0000-0000-0000-000000000001"),
        dashboards_configmap_object(bodies),
        job,
    ):
        validate_strict(obj, "1.34")
    pod = job["spec"]["template"]
    assert pod["metadata"]["labels"][WORKLOAD_IDENTITY_USE_LABEL] == "true"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["spec"]["containers"]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["image"].startswith("mcr.microsoft.com/azure-cli:2.")
    assert dashboards_namespace_object()["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # Entra login with the federated token, then Grafana's API with the Managed Grafana audience: no secret.
    assert "--federated-token" in SCRIPT
    assert f"--resource {GRAFANA_AUDIENCE}" in SCRIPT
    assert "/api/dashboards/db" in SCRIPT
    assert "${GRAFANA_URL%/}" in SCRIPT


def test_job_name_follows_the_content() -> None:
    bodies = dashboard_bodies()
    edited = {**bodies, "gpu.json": bodies["gpu.json"].replace("GPUs", "GPU fleet")}
    assert edited != bodies
    assert dashboards_hash(edited) != dashboards_hash(bodies)
    name = dashboards_job_object("u", bodies)["metadata"]["name"]
    assert name == f"grafana-dashboards-{dashboards_hash(bodies)}"
    assert dashboards_job_object("u", edited)["metadata"]["name"] != name


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_shipped_stacks_deploy_their_dashboards(plan_documents: dict[str, dict[str, Any]], stack: str) -> None:
    document = plan_documents[stack]
    # The dashboards' Job (prod's weight-cache fill Jobs are other Jobs), on the cluster in Grafana's region.
    (job,) = [r for r in _resources(document, JOB) if r["name"].endswith("-dashboards-job")]
    assert job["name"] == "monitoring-weu1-dashboards-job"
    assert job["inputs"]["metadata"]["namespace"] == DASHBOARDS_NAMESPACE
    deps = " ".join(job["dependencies"])
    for part in ("dashboards-grafana-editor", "dashboards-weu1-federation", "dashboards-cm", "dashboards-sa"):
        assert part in deps, part
    (editor,) = [
        r for r in _resources(document, "azure-native:authorization:RoleAssignment") if "grafana-editor" in r["name"]
    ]
    assert editor["inputs"]["roleDefinitionId"].endswith(BUILTIN_ROLES["Grafana Editor"])
    (grafana,) = _resources(document, "azure-native:dashboard:Grafana")
    assert grafana["urn"] in editor["dependencies"]
    (credential,) = [
        r
        for r in _resources(document, "azure-native:managedidentity:FederatedIdentityCredential")
        if "dashboards" in r["name"]
    ]
    assert credential["inputs"]["subject"] == f"system:serviceaccount:{DASHBOARDS_NAMESPACE}:grafana-dashboards"


def test_without_the_job_the_outputs_keep_the_import_commands() -> None:
    values = changed(BASE, "monitoring.grafana.dashboards", False)
    document = _run(values, SECRETS)
    assert _resources(document, JOB) == []
    assert not [r for r in _resources(document, "azure-native:authorization:RoleAssignment") if "editor" in r["name"]]


@pytest.mark.parametrize(
    ("values", "key", "words"),
    [
        (
            changed(BASE, "monitoring.grafana.adminGroupObjectIds", DELETE),
            "monitoring.grafana.adminGroupObjectIds",
            "prod needs",
        ),
        (
            changed(BASE, "monitoring.grafana.viewerGroupObjectIds", []),
            "monitoring.grafana.viewerGroupObjectIds",
            "prod needs",
        ),
        (
            changed(
                changed({**BASE, "environment": "dev"}, "monitoring.grafana", {"enabled": False, "dashboards": True}),
                "monitoring.light",
                True,
            ),
            "monitoring.grafana.dashboards",
            "Grafana, which is off",
        ),
    ],
)
def test_grafana_access_rules(values: dict[str, Any], key: str, words: str) -> None:
    lines = config_errors(values)
    assert len(lines) == 1, lines
    assert f"ai-platform:{key}:" in lines[0], lines[0]
    assert words in lines[0], lines[0]


def test_dev_light_needs_no_grafana_groups() -> None:
    dev = changed({**BASE, "environment": "dev"}, "monitoring", {"light": True})
    assert _resources(_run(dev, SECRETS), "azure-native:dashboard:Grafana") == []
