"""HolmesGPT: chart values against the real chart's documented keys, workload identity instead of keys, read-only
RBAC (schema-valid), Azure OpenAI created or existing, and the off branch.

The values file is the one the chart package publishes (tests/fixtures/holmes/README.md: source and version).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.facts import BUILTIN_ROLES, HOLMES_NAMESPACE, WORKLOAD_IDENTITY_USE_LABEL
from components.observability.holmes import (
    HOLMES_READ_RULES,
    holmes_cluster_role_binding_object,
    holmes_cluster_role_object,
    holmes_namespace_object,
    holmes_service_account_object,
    holmes_values,
)
from components.observability.spec import HOLMES_CHART, HOLMES_CHART_VERSION, HolmesSpec
from tests.helpers import changed, config_errors
from tests.k8s_schema import validate_strict
from tests.test_dcgm_chart import _unknown_keys
from tests.test_observability import BASE, _resources, _run

FIXTURES = Path(__file__).parent / "fixtures" / "holmes"
CHART_VERSION = "0.39.0"
VALUES = FIXTURES / f"values-{CHART_VERSION}.yaml"
RELEASE = "kubernetes:helm.sh/v3:Release"
READ_ONLY = {"get", "list", "watch"}
TEMPLATE_READ_KEYS = {"enableTelemetry"}
"""Read by the chart's templates with ``hasKey`` but absent from values.yaml (fixture README)."""
EXISTING = (
    "/subscriptions/5a3c1e2b-7d4f-4e8a-9b6c-0d1e2f3a4b5c/resourceGroups/ai/providers/Microsoft.CognitiveServices"
    "/accounts/corp-aoai"
)


def _chart_values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(VALUES.read_text())
    return loaded


def _holmes_releases(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in _resources(document, RELEASE) if r["inputs"].get("chart") == HOLMES_CHART]


def test_fixture_is_the_values_file_of_the_pin() -> None:
    assert HOLMES_CHART_VERSION == CHART_VERSION
    chart = _chart_values()
    assert chart["image"] == f"holmes:{CHART_VERSION}"
    assert chart["createServiceAccount"] is True  # what the blueprint switches off


def test_every_value_sent_is_a_documented_chart_key(plan_documents: dict[str, dict[str, Any]]) -> None:
    sent = [r["inputs"]["values"] for r in _holmes_releases(plan_documents["staging"])]
    assert len(sent) == 1, "staging runs HolmesGPT on its one cluster"
    chart = _chart_values()
    for values in sent:
        extra = {k: v for k, v in values.items() if k not in TEMPLATE_READ_KEYS}
        assert _unknown_keys(extra, chart) == []
        # toolsets is free-form in the chart; the toolsets switched off must be ones the chart enables by default.
        for name, toolset in values["toolsets"].items():
            if not toolset["enabled"]:
                assert chart["toolsets"][name]["enabled"] is True, name
    assert _unknown_keys({"createServiceAccounts": False, "tls": {"enable": True}}, chart) == [
        "createServiceAccounts",
        "tls.enable",
    ]


def test_no_api_key_and_entra_tokens_through_workload_identity(plan_documents: dict[str, dict[str, Any]]) -> None:
    (release,) = _holmes_releases(plan_documents["staging"])
    values = release["inputs"]["values"]
    text = yaml.safe_dump(values).lower()
    assert "api_key" not in text
    assert "azure_api_key" not in text
    assert "secretkeyref" not in text
    env = {e["name"]: e["value"] for e in values["additionalEnvVars"]}
    assert env["AZURE_AD_TOKEN_AUTH"] == "true"
    assert env["AZURE_API_BASE"] == "https://oai-aiplat-staging-holmes.openai.azure.com/"
    assert values["commonLabels"] == {WORKLOAD_IDENTITY_USE_LABEL: "true"}
    assert values["createServiceAccount"] is False
    assert values["customServiceAccountName"] == "holmes"
    assert values["enableTelemetry"] is False
    assert values["modelList"]["azure-openai"]["model"] == "azure/holmes-gpt-41"
    enabled = {n for n, t in values["toolsets"].items() if t["enabled"]}
    assert enabled == {"kubernetes/core", "kubernetes/logs"}
    assert release["inputs"]["namespace"] == HOLMES_NAMESPACE
    # The release waits for its RBAC, the identity's federation, the OpenAI grant and the model deployment.
    deps = " ".join(release["dependencies"])
    for part in ("holmes-binding", "holmes-weu1-federation", "holmes-openai-user", "openai-deployment"):
        assert part in deps, part


def test_no_azure_data_source_without_a_toolset_that_reaches_it(plan_documents: dict[str, dict[str, Any]]) -> None:
    """Issue 16 item 1: no toolset of the pinned chart reaches managed Prometheus or Log Analytics with a workload
    identity (docs/observability.md, "What is not wired"). So the values name only toolsets the chart's values.yaml
    lists (``azuremonitormetrics``/``azuremonitorlogs`` of the unmerged HolmesGPT#782 are not among them),
    ``prometheus/metrics`` stays off, and the identity gets no monitoring role it would never use."""
    document = plan_documents["staging"]
    (release,) = _holmes_releases(document)
    toolsets = release["inputs"]["values"]["toolsets"]
    chart_toolsets = set(_chart_values()["toolsets"])
    assert set(toolsets) <= chart_toolsets, sorted(set(toolsets) - chart_toolsets)
    assert not any(name.startswith("azuremonitor") for name in chart_toolsets)
    assert toolsets["prometheus/metrics"] == {"enabled": False}
    identity = next(r["urn"] for r in document["resources"] if r["name"] == "monitoring-holmes-identity")
    grants = [
        r
        for r in _resources(document, "azure-native:authorization:RoleAssignment")
        if identity in r.get("dependencies", [])
    ]
    assert [(g["name"], g["inputs"]["roleDefinitionId"].rsplit("/", 1)[-1]) for g in grants] == [
        ("monitoring-holmes-openai-user", BUILTIN_ROLES["Cognitive Services OpenAI User"])
    ]


def test_azure_openai_account_refuses_keys(plan_documents: dict[str, dict[str, Any]]) -> None:
    document = plan_documents["staging"]
    (account,) = _resources(document, "azure-native:cognitiveservices:Account")
    assert account["inputs"]["kind"] == "OpenAI"
    props = account["inputs"]["properties"]
    assert props["disableLocalAuth"] is True
    assert props["customSubDomainName"] == account["inputs"]["accountName"]
    (deployment,) = _resources(document, "azure-native:cognitiveservices:Deployment")
    assert deployment["inputs"]["properties"]["model"] == {
        "format": "OpenAI",
        "name": "gpt-4.1",
        "version": "2025-04-14",
    }
    assert deployment["inputs"]["sku"] == {"name": "GlobalStandard", "capacity": 50}
    (credential,) = [
        r
        for r in _resources(document, "azure-native:managedidentity:FederatedIdentityCredential")
        if "holmes" in r["name"]
    ]
    assert credential["inputs"]["subject"] == "system:serviceaccount:holmes:holmes"
    assert credential["inputs"]["audiences"] == ["api://AzureADTokenExchange"]
    assert "weu1-aks" in " ".join(credential["dependencies"]), "the issuer comes from the cluster"


def test_rbac_is_read_only_and_schema_valid() -> None:
    for obj in (
        holmes_namespace_object(),
        holmes_service_account_object("00000000-0000-0000-0000-000000000001"),
        holmes_cluster_role_object(),
        holmes_cluster_role_binding_object(),
    ):
        validate_strict(obj, "1.34")
    for rule in HOLMES_READ_RULES:
        assert set(rule["verbs"]) <= READ_ONLY, rule
        assert "secrets" not in rule["resources"], rule
        assert "*" not in rule["resources"], rule
        assert "*" not in rule["apiGroups"], rule
    binding = holmes_cluster_role_binding_object()
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "holmes", "namespace": HOLMES_NAMESPACE}]
    assert binding["roleRef"]["name"] == holmes_cluster_role_object()["metadata"]["name"]


def test_values_follow_the_spec() -> None:
    spec = HolmesSpec.model_validate({"enabled": True, "azureOpenAI": {"deployment": "ops-gpt", "model": "gpt-4o"}})
    values = holmes_values(spec, "https://x.openai.azure.com/")
    assert values["modelList"]["azure-openai"]["model"] == "azure/ops-gpt"


def test_existing_account_is_used_not_created() -> None:
    values = changed(
        BASE,
        "monitoring.holmes",
        {
            "enabled": True,
            "azureOpenAI": {"existingAccountId": EXISTING, "endpoint": "https://corp-aoai.openai.azure.com/"},
        },
    )
    document = _run(values, {"pagerUrl": "https://example.invalid/hook"})
    assert _resources(document, "azure-native:cognitiveservices:Account") == []
    assert _resources(document, "azure-native:cognitiveservices:Deployment") == []
    (grant,) = [
        r for r in _resources(document, "azure-native:authorization:RoleAssignment") if "openai-user" in r["name"]
    ]
    assert grant["inputs"]["scope"] == EXISTING
    assert grant["inputs"]["roleDefinitionId"].endswith(BUILTIN_ROLES["Cognitive Services OpenAI User"])
    releases = _holmes_releases(document)
    assert {r["name"] for r in releases} == {"monitoring-weu1-holmes", "monitoring-neu1-holmes"}
    assert (
        releases[0]["inputs"]["values"]["modelList"]["azure-openai"]["api_base"]
        == "https://corp-aoai.openai.azure.com/"
    )


def test_off_by_default(plan_documents: dict[str, dict[str, Any]]) -> None:
    for stack in ("dev", "prod"):
        document = plan_documents[stack]
        assert _holmes_releases(document) == []
        assert _resources(document, "azure-native:cognitiveservices:Account") == []


@pytest.mark.parametrize(
    ("azure_openai", "key", "words"),
    [
        ({"existingAccountId": EXISTING}, "monitoring.holmes.azureOpenAI.endpoint", "go together"),
        (
            {"endpoint": "https://corp-aoai.openai.azure.com/"},
            "monitoring.holmes.azureOpenAI.existingAccountId",
            "go together",
        ),
        (
            {
                "existingAccountId": "/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/z",
                "endpoint": "https://corp-aoai.openai.azure.com/",
            },
            "monitoring.holmes.azureOpenAI.existingAccountId",
            "Cognitive Services account",
        ),
        (
            {"existingAccountId": EXISTING, "endpoint": "https://westeurope.api.cognitive.microsoft.com/"},
            "monitoring.holmes.azureOpenAI.endpoint",
            "custom-subdomain",
        ),
        ({"apiKey": "sk-123"}, "monitoring.holmes.azureOpenAI.apiKey", "unknown key"),
        ({"capacity": 0}, "monitoring.holmes.azureOpenAI.capacity", ">="),
    ],
)
def test_bad_azure_openai_config(azure_openai: dict[str, Any], key: str, words: str) -> None:
    lines = config_errors(changed(BASE, "monitoring.holmes", {"enabled": True, "azureOpenAI": azure_openai}))
    assert len(lines) == 1, lines
    assert f"ai-platform:{key}:" in lines[0], lines[0]
    assert words in lines[0], lines[0]
