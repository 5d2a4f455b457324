"""Sidecar-free mTLS: requested per namespace, never claimed as enforced while the API version cannot switch it on.

The installed azure-native SDK's ManagedCluster API version has no mTLS or transit-encryption property: checked
here against the SDK itself, so the advisory goes away only when the program can really turn encryption on.
"""

from __future__ import annotations

import inspect
from typing import Any

import pulumi_azure_native.containerservice as cs

from components.facts import MANAGED_CLUSTER_API_VERSION, MTLS_LABEL, MTLS_SWITCH_IN_API, TEAM_LABEL
from policies.engine import Resource, evaluate
from policies.pack_config import environment_config
from policies.rules import RULES_BY_ID
from stacks.summary import render_summary

NAMESPACE = "kubernetes:core/v1:Namespace"


def _namespace(labels: dict[str, str]) -> Resource:
    return Resource(
        "urn:pulumi:dev::ai-platform::kubernetes:core/v1:Namespace::weu1-dra-ns-research",
        NAMESPACE,
        "weu1-dra-ns-research",
        {"metadata": {"name": "research", "labels": labels}},
    )


def _run(resource: Resource) -> list[Any]:
    return evaluate([RULES_BY_ID["team-mtls-not-enforced"]], [resource], environment_config("prod"))


def test_the_default_api_version_has_no_mtls_switch() -> None:
    fields = set(cs.AdvancedNetworkingSecurityArgs.__init__.__annotations__) - {"return"}
    assert fields == {"advanced_network_policies", "enabled"}
    assert not hasattr(cs, "TransitEncryptionType")
    source = inspect.getsource(cs.ManagedCluster)
    assert f"Uses Azure REST API version {MANAGED_CLUSTER_API_VERSION}." in source
    assert MTLS_SWITCH_IN_API is False


def test_a_labelled_namespace_is_requested_not_enforced() -> None:
    [violation] = _run(_namespace({TEAM_LABEL: "research", MTLS_LABEL: "true"}))
    assert violation.enforcement == "advisory"
    assert violation.urn.endswith("::weu1-dra-ns-research")
    assert "mTLS requested, not enforced" in violation.message
    assert f"ManagedCluster API version {MANAGED_CLUSTER_API_VERSION} has no property" in violation.message
    assert "Fix: treat this namespace's pod traffic as unencrypted" in violation.message
    assert "teams.research.mtls: false" in violation.message


def test_namespaces_without_the_request_are_not_flagged() -> None:
    assert _run(_namespace({TEAM_LABEL: "research"})) == []
    assert _run(_namespace({TEAM_LABEL: "research", MTLS_LABEL: "false"})) == []
    assert _run(Resource("urn:x", NAMESPACE, "x", {})) == []


def test_shipped_stacks_report_each_requesting_namespace(plans: dict[str, Any]) -> None:
    expected = {"dev": {"weu1-dra-ns-research"}, "prod": {"weu1-dra-ns-inference", "neu1-dra-ns-inference"}}
    for stack, names in expected.items():
        document = plans[stack].to_json()
        flagged = {
            v["urn"].rsplit("::", 1)[1] for v in document["policyViolations"] if v["policy"] == "team-mtls-not-enforced"
        }
        assert flagged == names
        assert all(
            v["enforcement"] == "advisory"
            for v in document["policyViolations"]
            if v["policy"] == "team-mtls-not-enforced"
        )
    summary = render_summary(plans["dev"])
    assert "team research [mtls requested, not enforced]" in summary
    assert "team apps:" in summary  # no mtls request, no flag


def test_no_cluster_claims_encryption(plan_documents: dict[str, dict[str, Any]]) -> None:
    for document in plan_documents.values():
        for r in document["resources"]:
            if r["type"] == "azure-native:containerservice:ManagedCluster":
                security = r["inputs"]["networkProfile"]["advancedNetworking"]["security"]
                assert set(security) <= {"enabled", "advancedNetworkPolicies"}
