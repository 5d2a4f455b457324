"""FQDN egress per team: the CiliumNetworkPolicy objects, their schema, config errors, the plan and the policy rule.

Schemas: ``tests/fixtures/cilium/ciliumnetworkpolicy_v2-<version>.json`` are the CiliumNetworkPolicy CRD's
openAPIV3Schema of Cilium 1.17.1 (the minimum AKS documents for Kubernetes >= 1.32) and 1.18.2, as JSON Schema from
datreeio/CRDs-catalog ``cilium.io/ciliumnetworkpolicy_v2.json`` (commits ec2812673097 "Update Cilium -> v1.17.1" and
ea03cc2abb64 "Update cilium to 1.18.2"), with ``description`` fields removed (validation is unchanged).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from components.dra.egress import MODEL_HUB_FQDNS, egress_policies
from components.teams import EgressSpec, TeamSpec
from policies.engine import Resource, evaluate
from policies.pack_config import environment_config
from policies.rules import RULES_BY_ID
from tests.helpers import changed, config_errors
from tests.k8s_schema import k8s_objects

FIXTURES = Path(__file__).parent / "fixtures" / "cilium"
SCHEMAS = {p.stem.rsplit("-", 1)[1]: json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))}
RULE = "team-egress-default-deny"

BASE: dict[str, Any] = {
    "environment": "dev",
    "owner": "o",
    "costCenter": "c",
    "location": "westeurope",
    "clusters": {
        "weu1": {
            "location": "westeurope",
            "kubernetesVersion": "1.34",
            "apiServer": {"private": False, "authorizedIpRanges": ["203.0.113.0/24"]},
        }
    },
    "teams": {"research": {"egress": {"defaultDeny": True}}},
}


def _validate(obj: dict[str, Any], version: str) -> None:
    schema = SCHEMAS[version]
    jsonschema.validators.validator_for(schema)(schema).validate(obj)


def test_fixtures_are_the_two_cilium_versions() -> None:
    assert set(SCHEMAS) == {"1.17.1", "1.18.2"}


@pytest.mark.parametrize("version", ["1.17.1", "1.18.2"])
def test_every_cilium_policy_of_the_shipped_stacks_is_schema_valid(
    plan_documents: dict[str, dict[str, Any]], version: str
) -> None:
    seen = 0
    for document in plan_documents.values():
        for obj in k8s_objects(document, "CiliumNetworkPolicy"):
            _validate(obj, version)
            seen += 1
    assert seen >= 6  # dev: 2 egress + 2 L7 model policies; prod: 3 egress namespaces with hub policies


@pytest.mark.parametrize("version", ["1.17.1", "1.18.2"])
def test_the_schema_refuses_a_misspelt_or_wrong_field(version: str) -> None:
    [deny, _, _] = egress_policies("research", TeamSpec(egress=EgressSpec(defaultDeny=True, allowFqdns=["pypi.org"])))
    misspelt = copy.deepcopy(deny)
    misspelt["spec"]["egress"][2]["toFQDN"] = misspelt["spec"]["egress"][2].pop("toFQDNs")
    with pytest.raises(jsonschema.ValidationError):
        _validate(misspelt, version)
    wrong = copy.deepcopy(deny)
    wrong["spec"]["egress"][0]["toPorts"][0]["ports"][0]["protocol"] = "DNS"
    with pytest.raises(jsonschema.ValidationError):
        _validate(wrong, version)


def test_default_deny_allows_dns_the_namespace_and_named_hosts_only() -> None:
    spec = TeamSpec(egress=EgressSpec(defaultDeny=True, allowFqdns=["pypi.org", "*.blob.core.windows.net"]))
    deny, hub, ray_hub = egress_policies("research", spec)
    assert deny["metadata"] == {
        "name": "egress-default-deny",
        "namespace": "research",
        "labels": {"ai-platform/team": "research"},
    }
    assert deny["spec"]["endpointSelector"] == {}
    dns, own, hosts = deny["spec"]["egress"]
    # the DNS proxy rule that toFQDNs needs: lookups to kube-dns go through Cilium's proxy
    assert dns == {
        "toEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:k8s-app": "kube-dns"}}],
        "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}], "rules": {"dns": [{"matchPattern": "*"}]}}],
    }
    assert own == {"toEndpoints": [{}]}
    assert hosts == {
        "toFQDNs": [{"matchPattern": "*.blob.core.windows.net"}, {"matchName": "pypi.org"}],
        "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}],
    }
    assert hub["spec"]["endpointSelector"] == {"matchExpressions": [{"key": "ai-platform/model", "operator": "Exists"}]}
    [hub_rule] = hub["spec"]["egress"]
    assert [f.get("matchName") or f.get("matchPattern") for f in hub_rule["toFQDNs"]] == list(MODEL_HUB_FQDNS)
    assert "huggingface.co" in MODEL_HUB_FQDNS
    assert "*.xethub.hf.co" in MODEL_HUB_FQDNS
    # KubeRay's Ray pods carry no model label (the namespace's ingress policy keeps guarding them): their own.
    assert ray_hub["metadata"]["name"] == "egress-model-hub-ray"
    assert ray_hub["spec"]["endpointSelector"] == {
        "matchExpressions": [{"key": "ai-platform/ray-model", "operator": "Exists"}]
    }
    assert ray_hub["spec"]["egress"] == hub["spec"]["egress"]


def test_no_policies_without_default_deny_and_no_hub_when_switched_off() -> None:
    assert egress_policies("apps", TeamSpec()) == []
    [deny] = egress_policies("apps", TeamSpec(egress=EgressSpec(defaultDeny=True, modelHub=False)))
    assert deny["metadata"]["name"] == "egress-default-deny"


@pytest.mark.parametrize(
    ("values", "key", "needle"),
    [
        (
            changed(BASE, "clusters.weu1.advancedNetworking", {"security": False}),
            "teams.research.egress.defaultDeny",
            "ACNS security",
        ),
        (
            changed(BASE, "teams.research.egress", {"defaultDeny": True, "allowFqdns": ["https://pypi.org/simple"]}),
            "teams.research.egress.allowFqdns.0",
            "is not a host name",
        ),
        (
            changed(BASE, "teams.research.egress", {"allowFqdns": ["pypi.org"]}),
            "teams.research.egress.allowFqdns",
            "only applies with defaultDeny true",
        ),
        (
            changed(BASE, "teams.research.egress", {"defaultDeny": True, "allow": []}),
            "teams.research.egress.allow",
            "unknown key",
        ),
    ],
)
def test_bad_egress_config_names_the_key(values: dict[str, Any], key: str, needle: str) -> None:
    lines = config_errors(values)
    assert any(f"ai-platform:{key}:" in line and needle in line for line in lines), lines


def test_dev_plan_isolates_research_egress_and_models_wait_for_it(plan_documents: dict[str, dict[str, Any]]) -> None:
    resources = {r["name"]: r for r in plan_documents["dev"]["resources"]}
    deny = resources["weu1-dra-research-egress-default-deny"]
    hub = resources["weu1-dra-research-egress-model-hub"]
    assert deny["retainOnDelete"] is True
    assert hub["retainOnDelete"] is True
    hosts = deny["inputs"]["spec"]["egress"][2]["toFQDNs"]
    assert hosts == [{"matchName": "files.pythonhosted.org"}, {"matchName": "pypi.org"}]
    assert "weu1-dra-apps-egress-default-deny" not in resources
    model = resources["weu1-models-research-3b-deployment"]
    assert {deny["urn"], hub["urn"]} <= set(model["dependencies"])


def _namespace(team: str = "research") -> Resource:
    return Resource(
        f"urn:pulumi:prod::ai-platform::kubernetes:core/v1:Namespace::weu1-dra-ns-{team}",
        "kubernetes:core/v1:Namespace",
        f"weu1-dra-ns-{team}",
        {"metadata": {"name": team, "labels": {"ai-platform/team": team}}},
        provider="urn:pulumi:prod::ai-platform::pulumi:providers:kubernetes::weu1-k8s",
    )


def _policy(obj: dict[str, Any], provider: str = "weu1-k8s") -> Resource:
    return Resource(
        f"urn:pulumi:prod::ai-platform::kubernetes:cilium.io/v2:CiliumNetworkPolicy::{obj['metadata']['name']}",
        "kubernetes:cilium.io/v2:CiliumNetworkPolicy",
        obj["metadata"]["name"],
        obj,
        provider=f"urn:pulumi:prod::ai-platform::pulumi:providers:kubernetes::{provider}",
    )


def _run(resources: list[Resource], env: str = "prod") -> list[Any]:
    return evaluate([RULES_BY_ID[RULE]], resources, environment_config(env))


def test_rule_compliant_violating_edited_unknown_and_per_cluster() -> None:
    deny, hub, _ = egress_policies("research", TeamSpec(egress=EgressSpec(defaultDeny=True)))
    assert _run([_namespace(), _policy(deny), _policy(hub)]) == []

    [missing] = _run([_namespace()])
    assert missing.enforcement == "mandatory"
    assert "egress policy is unset" in missing.message
    assert "Fix: set teams.research.egress.defaultDeny: true" in missing.message

    opened = changed(deny, ["spec", "egress"], [*deny["spec"]["egress"], {"toEntities": ["world"]}])
    [edited] = _run([_namespace(), _policy(opened)])
    assert "allows toEntities ['world']" in edited.message
    narrowed = changed(deny, ["spec", "endpointSelector"], {"matchLabels": {"app": "x"}})
    [partial] = _run([_namespace(), _policy(narrowed)])
    assert "does not select every pod" in partial.message

    [unknown] = _run([_namespace(), _policy({**deny, "spec": None})])
    assert unknown.enforcement == "advisory"
    assert "not known before deployment" in unknown.message

    [elsewhere] = _run([_namespace(), _policy(deny, provider="neu1-k8s")])
    assert "egress policy is unset" in elsewhere.message

    assert _run([_namespace()], env="dev") == []  # disabled in dev
    [staging] = _run([_namespace()], env="staging")
    assert staging.enforcement == "advisory"


def test_shipped_stacks_pass_the_rule(plan_documents: dict[str, dict[str, Any]]) -> None:
    prod = [v for v in plan_documents["prod"]["policyViolations"] if v["policy"] == RULE]
    assert prod == []
    staging = [v for v in plan_documents["staging"]["policyViolations"] if v["policy"] == RULE]
    assert {v["enforcement"] for v in staging} == {"advisory"}
