"""Gated supply chain: pinned images in one place, chart image keys, the Kyverno policy and the ``images-pinned`` rule.

Test data: the Kyverno ClusterPolicy CRD schema and chart values at v1.15.2 / chart 3.5.2 (tests/fixtures/kyverno/),
the NVIDIA DRA driver chart's values at v0.4.0 (tests/fixtures/dra-driver-nvidia-gpu/, commit 6910a2bea298).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from components.dra import nvidia_dra_values
from components.images import CHART_IMAGES, DIGEST, IMAGES, Image, chart_image_tag
from components.supply_chain import SupplyChainSpec, cluster_policy, kyverno_values
from policies.engine import Resource, evaluate
from policies.pack_config import environment_config
from policies.rules import RULES_BY_ID
from tests.helpers import changed, config_errors
from tests.k8s_schema import k8s_objects, strict_schema

FIXTURES = Path(__file__).parent / "fixtures"
KYVERNO_SCHEMA = json.loads((FIXTURES / "kyverno" / "clusterpolicy_v1-1.15.2.json").read_text())
RULE = "images-pinned"


STRICT = strict_schema(KYVERNO_SCHEMA)


def _validate_policy(obj: dict[str, Any]) -> None:
    jsonschema.validators.validator_for(STRICT)(STRICT).validate(obj)


def _keys(values: Any, prefix: str = "") -> list[str]:
    if isinstance(values, dict) and values:
        return [k for key, v in values.items() for k in _keys(v, f"{prefix}{key}.")]
    return [prefix.rstrip(".")]


def _documented(chart_values: dict[str, Any], key: str) -> bool:
    node: Any = chart_values
    for part in key.split("."):
        if not isinstance(node, dict) or not node:
            return True  # below a documented free-form map or list (featureGates: {}, nodeSelector: {}), any key
        if part not in node:
            return False
        node = node[part]
    return True


def test_every_digest_is_well_formed_and_every_gap_says_why() -> None:
    for image_id, image in IMAGES.items():
        assert image.source, image_id
        if image.pinned:
            assert DIGEST.match(image.digest or ""), image_id
            assert image.ref == f"{image.registry}/{image.repository}:{image.tag}@{image.digest}"
        else:
            assert "@" not in image.ref
            assert "no " in image.source, image_id  # says that no digest was found, and where it looked
    assert {i for i, image in IMAGES.items() if not image.pinned} == {
        "dcgm-exporter",
        "kyverno",
        "ray-llm",
        "kaito-preset",
    }
    with pytest.raises(ValueError, match="not a sha256 digest"):
        Image("r", "x", "1", "sha256:abc", "s")


def test_chart_image_keys_pin_the_digest_at_the_pinned_version_only() -> None:
    assert chart_image_tag("dra-driver-nvidia-gpu", "0.4.0") == (
        "v0.4.0@sha256:dd17d49170f62071d13ef5de9b8f0ff26c66793f9d802c34532c0cb4f8a1d1f3"
    )
    assert chart_image_tag("dra-driver-nvidia-gpu", "0.4.1") is None  # a bumped chart runs its own tag: unpinned
    assert chart_image_tag("dcgm-exporter", "4.8.3") is None
    assert chart_image_tag("unknown", "1.0.0") is None
    assert set(CHART_IMAGES) == {"dra-driver-nvidia-gpu", "nvidia-device-plugin", "dcgm-exporter", "kyverno"}


@pytest.mark.parametrize(
    ("values_file", "values"),
    [
        ("dra-driver-nvidia-gpu/values-0.4.0.yaml", nvidia_dra_values([], {"MPSSupport": True}, "0.4.0")),
        ("kyverno/values-3.5.2.yaml", kyverno_values("3.5.2")),
    ],
)
def test_chart_values_use_only_documented_keys(values_file: str, values: dict[str, Any]) -> None:
    chart_values = yaml.safe_load((FIXTURES / values_file).read_text())
    undocumented = [k for k in _keys(values) if not _documented(chart_values, k)]
    assert undocumented == []


def test_shipped_stacks_run_the_pinned_images(plan_documents: dict[str, dict[str, Any]]) -> None:
    for stack, document in plan_documents.items():
        resources = {r["name"]: r for r in document["resources"]}
        assert (
            resources["weu1-dra-nvidia-dra"]["inputs"]["values"]["image"]["tag"]
            == IMAGES["nvidia-dra-driver"].tag_with_digest
        ), stack
        for obj in k8s_objects(document, "Deployment"):
            for container in obj["spec"]["template"]["spec"]["containers"]:
                assert container["image"] == IMAGES["vllm"].ref, stack


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_cluster_policies_are_schema_valid_and_mode_follows_the_stack(
    plan_documents: dict[str, dict[str, Any]], stack: str
) -> None:
    policies = k8s_objects(plan_documents[stack], "ClusterPolicy")
    assert policies, stack
    expected = {"dev": "Audit", "staging": "Enforce", "prod": "Enforce"}[stack]
    for obj in policies:
        _validate_policy(obj)
        rules = obj["spec"]["rules"]
        assert [r["name"] for r in rules] == ["allowed-registries", "require-digest", "verify-signatures"]
        assert rules[0]["validate"]["failureAction"] == expected
        assert rules[1]["validate"]["failureAction"] == expected
        assert rules[2]["verifyImages"][0]["failureAction"] == expected
        namespaces = rules[0]["match"]["any"][0]["resources"]["namespaces"]
        assert "gpu-monitoring" not in namespaces  # runs the unpinned DCGM exporter: reported, not blocked
        assert "nvidia-dra-driver-gpu" in namespaces
        assert "kube-system" not in namespaces


def test_the_strict_schema_refuses_a_misspelt_field() -> None:
    obj = cluster_policy(SupplyChainSpec(), ["research"])
    _validate_policy(obj)
    bad = copy.deepcopy(obj)
    bad["spec"]["rules"][2]["verifyImages"][0]["verifyDigests"] = True
    with pytest.raises(jsonschema.ValidationError):
        _validate_policy(bad)
    wrong = copy.deepcopy(obj)
    wrong["spec"]["rules"][0]["validate"]["failureAction"] = "Deny"
    with pytest.raises(jsonschema.ValidationError):
        _validate_policy(wrong)


def test_policy_content_registries_digest_and_signer() -> None:
    spec = SupplyChainSpec(allowedRegistries=["myacr.azurecr.io", "registry.k8s.io"], admission="Audit")
    rules = cluster_policy(spec, ["b", "a", "a"])["spec"]["rules"]
    assert rules[0]["match"]["any"][0]["resources"] == {"kinds": ["Pod"], "namespaces": ["a", "b"]}
    assert rules[0]["validate"]["pattern"]["spec"]["containers"] == [
        {"image": "myacr.azurecr.io/* | registry.k8s.io/*"}
    ]
    assert rules[1]["validate"]["pattern"]["spec"]["=(initContainers)"] == [{"image": "*@sha256:*"}]
    verify = rules[2]["verifyImages"][0]
    assert verify["imageReferences"] == ["registry.k8s.io/*"]
    assert (verify["verifyDigest"], verify["required"], verify["mutateDigest"]) == (True, True, False)
    keyless = verify["attestors"][0]["entries"][0]["keyless"]
    assert keyless["subject"] == "krel-trust@k8s-releng-prod.iam.gserviceaccount.com"
    assert keyless["issuer"] == "https://accounts.google.com"


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
}


@pytest.mark.parametrize(
    ("path", "value", "key", "needle"),
    [
        ("supplyChain", {"admission": "Deny"}, "supplyChain.admission", "is not an allowed value"),
        ("supplyChain", {"allowedRegistries": ["https://x.io"]}, "supplyChain.allowedRegistries.0", "wrong format"),
        ("supplyChain", {"kyverno": {"version": "latest"}}, "supplyChain.kyverno.version", "wrong format"),
        ("supplyChain", {"enforce": True}, "supplyChain.enforce", "unknown key"),
    ],
)
def test_bad_supply_chain_config_names_the_key(path: str, value: Any, key: str, needle: str) -> None:
    lines = config_errors(changed(BASE, path, value))
    assert any(f"ai-platform:{key}:" in line and needle in line for line in lines), lines


def _deployment(image: Any) -> Resource:
    return Resource(
        "urn:x::kubernetes:apps/v1:Deployment::m",
        "kubernetes:apps/v1:Deployment",
        "m",
        {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": image}]}}}},
    )


def _release(chart: str, version: str, values: dict[str, Any]) -> Resource:
    return Resource(
        "urn:x::kubernetes:helm.sh/v3:Release::r",
        "kubernetes:helm.sh/v3:Release",
        "r",
        {"chart": chart, "version": version, "values": values},
    )


def _run(resources: list[Resource], env: str = "prod") -> list[Any]:
    return evaluate([RULES_BY_ID[RULE]], resources, environment_config(env))


def test_rule_compliant_violating_unknown_and_charts() -> None:
    assert _run([_deployment(IMAGES["vllm"].ref)]) == []
    [tagged] = _run([_deployment("vllm/vllm-openai:v0.12.0")])
    assert tagged.enforcement == "mandatory"
    assert "container 'main' image is 'vllm/vllm-openai:v0.12.0'; expected an image pinned by digest" in tagged.message
    [unknown] = _run([_deployment(None)])
    assert unknown.enforcement == "advisory"

    chart = "oci://registry.k8s.io/dra-driver-nvidia/charts/dra-driver-nvidia-gpu"
    assert _run([_release(chart, "0.4.0", nvidia_dra_values([], {}, "0.4.0"))]) == []
    [bumped] = _run([_release(chart, "0.4.1", nvidia_dra_values([], {}, "0.4.1"))])
    assert "chart version 0.4.1 is not the one pinned (0.4.0)" in bumped.message
    [dcgm] = _run([_release("dcgm-exporter", "4.8.3", {})])
    assert "runs nvcr.io/nvidia/k8s/dcgm-exporter unpinned (no digest is recorded" in dcgm.message
    assert _run([_release("some-other-chart", "1.0.0", {})]) == []
    assert _run([_deployment("vllm:latest")], env="dev")[0].enforcement == "advisory"


def test_prod_gaps_are_waived_visibly_and_other_stacks_report_them(plan_documents: dict[str, dict[str, Any]]) -> None:
    prod = plan_documents["prod"]
    assert [v for v in prod["policyViolations"] if v["policy"] == RULE] == []
    waived = {w["resource"] for w in prod["policy"]["waivers"] if w["rule"] == RULE}
    assert waived == {
        "monitoring-weu1-dcgm-exporter",
        "monitoring-neu1-dcgm-exporter",
        "weu1-supply-chain-kyverno",
        "neu1-supply-chain-kyverno",
        "weu1-models-qwen-72b-rayservice",
    }
    dev = {v["urn"].rsplit("::", 1)[1] for v in plan_documents["dev"]["policyViolations"] if v["policy"] == RULE}
    assert dev == {"monitoring-weu1-dcgm-exporter", "weu1-supply-chain-kyverno"}


def test_runtime_images_are_admitted_and_their_namespaces_named(plan_documents: dict[str, dict[str, Any]]) -> None:
    """KubeRay's Ray image and KAITO's preset images come from allowed registries; the namespace that runs one (no
    digest) is left out of weu1's digest/signature policy (the plan names it), so Enforce never blocks it unseen."""
    for stack, namespace, image_id in (("staging", "research", "kaito-preset"), ("prod", "inference", "ray-llm")):
        (policy,) = [r for r in plan_documents[stack]["resources"] if r["name"] == "weu1-supply-chain-policy"]
        rules = policy["inputs"]["spec"]["rules"]
        registries = rules[0]["validate"]["pattern"]["spec"]["containers"][0]["image"].split(" | ")
        assert any(IMAGES[image_id].ref.startswith(r.rstrip("*")) for r in registries), (stack, registries)
        for rule in rules:
            assert namespace not in rule["match"]["any"][0]["resources"]["namespaces"], (stack, rule["name"])


def test_rule_sees_ray_service_containers_and_kaito_workspaces() -> None:
    def ray(image: str) -> Resource:
        group = {"template": {"spec": {"containers": [{"name": "ray", "image": image}]}}}
        spec = {"rayClusterConfig": {"headGroupSpec": group, "workerGroupSpecs": [group]}}
        return Resource(
            "urn:x::kubernetes:ray.io/v1:RayService::q", "kubernetes:ray.io/v1:RayService", "q", {"spec": spec}
        )

    assert _run([ray("docker.io/rayproject/ray-llm:2@sha256:" + "a" * 64)]) == []
    head, worker = _run([ray(IMAGES["ray-llm"].ref)])
    assert head.enforcement == worker.enforcement == "mandatory"
    assert "container 'ray' image is 'docker.io/rayproject/ray-llm:2.52.0-py311-cu128'" in head.message
    workspace = Resource(
        "urn:x::kubernetes:kaito.sh/v1beta1:Workspace::w", "kubernetes:kaito.sh/v1beta1:Workspace", "w", {}
    )
    [kaito] = _run([workspace])
    assert "runs the preset image KAITO's controller picks" in kaito.message
