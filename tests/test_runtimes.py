"""Model-serving runtimes: KAITO Workspaces and KubeRay RayServices against their published CRD schemas, where
each runtime may run (fit), what it waits for, and the configurations that cannot work (one line each)."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
import yaml

from components._common import ConfigError
from components.facts import MODEL_LABEL, RAY_MODEL_LABEL
from components.serving import analyse, catalog, estimate
from components.serving.runtime_fit import stages
from components.serving.runtimes import kaito, kuberay
from stacks.__main__ import main
from stacks.config import load_config
from stacks.plan import ROOT, read_stack_file
from stacks.rehearsal import RAY_SERVICE, WORKSPACE
from tests.k8s_schema import FIXTURES, k8s_objects, validate_custom, validate_strict

POOL = "azure-native:containerservice:AgentPool"
RELEASE = "kubernetes:helm.sh/v3:Release"
CLUSTER = "azure-native:containerservice:ManagedCluster"


def _of_type(document: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in document["resources"] if r["type"] == type_]


def _cfg_map(stack: str, models: dict[str, Any] | None = None, **pools: Any) -> tuple[dict[str, str], str]:
    stack_file = read_stack_file(stack)
    config_map = dict(stack_file.config_map)
    if models is not None:
        config_map["ai-platform:models"] = json.dumps(models)
    if pools:
        clusters = json.loads(config_map["ai-platform:clusters"])
        for group, change in pools.items():
            clusters["weu1"]["gpuPools"][group] = change(copy.deepcopy(clusters["weu1"]["gpuPools"].get(group)))
        config_map["ai-platform:clusters"] = json.dumps(clusters)
    return config_map, stack_file.source


def _one_error(config_map: dict[str, str], source: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(config_map, source)
    (line,) = caught.value.lines
    return line


def _phi(**changes: Any) -> dict[str, Any]:
    return {
        "team": "research",
        "cluster": "weu1",
        "model": "phi-3-mini-4k-instruct",
        "runtime": "kaito",
        "contextLength": 4096,
        "concurrency": 2,
        **changes,
    }


# --- KAITO ------------------------------------------------------------------------------------------------


def test_staging_serves_a_kaito_workspace_valid_against_the_kaito_crd(plan_documents: dict[str, Any]) -> None:
    document = plan_documents["staging"]
    (workspace,) = _of_type(document, WORKSPACE)
    obj = workspace["inputs"]
    validate_custom(obj)
    assert obj["inference"]["preset"] == {"name": "phi-3-mini-4k-instruct"}  # not gated: no token secret
    # Our pool, not KAITO's node provisioning: the pool's labels, its VM size, no more nodes than minCount.
    (pool,) = [p for p in _of_type(document, POOL) if p["inputs"]["agentPoolName"] == "kaitoblue"]
    assert obj["resource"]["labelSelector"]["matchLabels"].items() <= pool["inputs"]["nodeLabels"].items()
    assert obj["resource"]["instanceType"] == pool["inputs"]["vmSize"]
    assert obj["resource"]["count"] <= pool["inputs"]["minCount"]
    assert pool["inputs"]["nodeLabels"]["ai-platform/gpu-allocation"] == "device-plugin"
    assert "preferredNodes" not in obj["resource"]
    # Awaited until KAITO says it serves, within the model's timeouts; after its ConfigMap (webhook) and pool.
    assert obj["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=WorkspaceSucceeded"
    assert workspace["customTimeouts"]["create"].endswith("m")
    (config_map,) = [
        r for r in k8s_objects(document, "ConfigMap") if r["metadata"]["name"] == obj["inference"]["config"]
    ]
    # A new engine configuration is a new ConfigMap name, so KAITO sees the Workspace change and rolls its pods.
    assert config_map["metadata"]["name"].startswith("phi-mini-inference-")
    validate_strict(config_map, "1.34")
    engine = yaml.safe_load(config_map["data"]["inference_config.yaml"])["vllm"]
    assert engine == {"max-model-len": "4096", "max-num-seqs": "2", "gpu-memory-utilization": "0.90"}
    by_name = {r["name"]: r["urn"] for r in document["resources"]}
    assert by_name["weu1-models-phi-mini-inference"] in workspace["dependencies"]
    assert pool["urn"] in workspace["dependencies"]
    # KAITO's webhook refuses changes to resource and preset: replaced, the old Workspace deleted first.
    assert workspace["replaceOnChanges"] == ["resource", "inference.preset"]
    assert workspace["deleteBeforeReplace"] is True


def test_the_ai_toolchain_operator_add_on_is_on_only_where_kaito_serves(plan_documents: dict[str, Any]) -> None:
    (staging,) = _of_type(plan_documents["staging"], CLUSTER)
    assert staging["inputs"]["aiToolchainOperatorProfile"] == {"enabled": True}
    for stack in ("dev", "prod"):
        assert all("aiToolchainOperatorProfile" not in c["inputs"] for c in _of_type(plan_documents[stack], CLUSTER))
    # ... or where the cluster asks for it.
    config_map, source = _cfg_map("dev")
    clusters = json.loads(config_map["ai-platform:clusters"])
    clusters["weu1"]["features"] = {"aiToolchainOperator": True}
    config_map["ai-platform:clusters"] = json.dumps(clusters)
    assert load_config(config_map, source).clusters["weu1"].features.ai_toolchain_operator is True


def _plugin_pool(pool: dict[str, Any] | None) -> dict[str, Any]:
    assert pool is not None
    return pool


@pytest.mark.parametrize(
    ("model", "pools", "expected"),
    [
        # KAITO asks the device plugin for nvidia.com/gpu: a DRA pool cannot serve it.
        (
            _phi(pool="a100"),
            {},
            "KAITO requests nvidia.com/gpu from the device plugin (no DRA support in KAITO 0.6.0)",
        ),
        # Fewer nodes than replicas: KAITO would provision the rest itself.
        (_phi(replicas=2), {}, "minCount 1 < 2 replicas: KAITO would provision the missing nodes itself"),
        # Spot nodes carry a taint KAITO's pods do not tolerate.
        (
            _phi(),
            {"kaito": lambda p: {**p, "slots": {"blue": {**p["slots"]["blue"], "spot": True}}}},
            "spot pool: KAITO's pods do not tolerate the spot taint",
        ),
    ],
)
def test_kaito_placements_that_cannot_work_are_refused(
    model: dict[str, Any], pools: dict[str, Any], expected: str
) -> None:
    line = _one_error(*_cfg_map("staging", {"phi": model}, **pools))
    assert line.startswith("Pulumi.staging.yaml: ai-platform:models.phi: phi-3-mini-4k-instruct at bf16")
    assert expected in line


@pytest.mark.parametrize(
    ("changes", "key", "expected"),
    [
        ({"model": "qwen2.5-7b-instruct"}, "runtime", "kaito serves only catalog models with a KAITO 0.6.0 preset"),
        ({"precision": "fp8"}, "precision", "kaito presets serve the publisher's bf16 checkpoint"),
        ({"source": "org/phi-copy"}, "source", "is set by the KAITO preset"),
        ({"profile": "a100-3g"}, "profile", "names a DRA sharing profile, but KAITO takes whole nodes' GPUs"),
    ],
)
def test_kaito_refuses_what_a_preset_cannot_serve(changes: dict[str, Any], key: str, expected: str) -> None:
    line = _one_error(*_cfg_map("staging", {"phi": _phi(**changes)}))
    assert line.startswith(f"Pulumi.staging.yaml: ai-platform:models.phi.{key}: {expected}")


def test_kaito_preset_needs_are_checked_like_its_webhook() -> None:
    # llama-3.3-70b's preset wants 4 GPUs of >= 80 GiB per node: one T4 node is refused, as KAITO would.
    assert "needs 4 GPUs per node, Standard_NC8as_T4_v3 has 1" in kaito.preset_issue(
        "llama-3.3-70b-instruct", "Standard_NC8as_T4_v3"
    )
    assert kaito.preset_issue("llama-3.3-70b-instruct", "Standard_NC96ads_A100_v4") == ""
    assert "does not know" in kaito.preset_issue("phi-3-mini-4k-instruct", "Standard_ND96is_MI300X_v5")


def test_gated_kaito_presets_get_the_token_under_kaitos_key() -> None:
    obj = kaito.workspace(
        "l8", "apps", {}, "llama-3.1-8b-instruct", "Standard_NC24ads_A100_v4", "a", "blue", 1, "hf", "l8-inference"
    )
    validate_custom(obj)
    assert obj["inference"]["preset"]["presetOptions"] == {"modelAccessSecret": "kaito-hf-token-hf"}
    assert kaito.TOKEN_KEY == "HF_TOKEN"


# --- KubeRay ----------------------------------------------------------------------------------------------


def test_prod_serves_a_multi_node_rayservice_valid_against_the_kuberay_crd(plan_documents: dict[str, Any]) -> None:
    document = plan_documents["prod"]
    (service,) = _of_type(document, RAY_SERVICE)
    obj = service["inputs"]
    validate_custom(obj)
    cluster = obj["spec"]["rayClusterConfig"]
    (workers,) = cluster["workerGroupSpecs"]
    assert workers["replicas"] == workers["minReplicas"] == workers["maxReplicas"] == 2  # PP 2 x 1 replica
    assert workers["rayStartParams"] == {"num-gpus": "1"}
    assert cluster["headGroupSpec"]["rayStartParams"]["num-gpus"] == "0"
    engine = yaml.safe_load(obj["spec"]["serveConfigV2"])["applications"][0]["args"]["llm_configs"][0]
    assert engine["engine_kwargs"]["tensor_parallel_size"] == 1
    assert engine["engine_kwargs"]["pipeline_parallel_size"] == 2
    assert engine["model_loading_config"] == {"model_id": "qwen-72b", "model_source": "Qwen/Qwen2.5-72B-Instruct"}
    # GPUs through DRA: the worker pods claim the model's template (TP devices of the h100 class), no nvidia.com/gpu.
    pod = workers["template"]["spec"]
    (claim,) = pod["resourceClaims"]
    (template,) = [
        t
        for t in k8s_objects(document, "ResourceClaimTemplate")
        if t["metadata"]["name"] == claim["resourceClaimTemplateName"]
    ]
    (request,) = template["spec"]["spec"]["devices"]["requests"]
    assert request["exactly"]["count"] == 1
    assert request["exactly"]["deviceClassName"] == "h100.gpu.ai-platform"
    (worker,) = pod["containers"]
    assert worker["resources"]["claims"] == [{"name": claim["name"]}]
    assert "nvidia.com/gpu" not in json.dumps(worker["resources"])
    assert pod["nodeSelector"] == {"ai-platform/gpu-pool": "h100mn", "ai-platform/color": "blue"}
    for spec in (pod, cluster["headGroupSpec"]["template"]["spec"]):
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        (container,) = spec["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
    # The operator first (its CRDs), the pool its pods land on, and an await of the Ready condition.
    (release,) = [r for r in _of_type(document, RELEASE) if r["inputs"]["chart"] == kuberay.CHART]
    assert release["urn"] in service["dependencies"]
    assert any(p["urn"] in service["dependencies"] for p in _of_type(document, POOL) if "h100mnblue" in p["urn"])
    assert obj["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    assert document["outputs"]["weu1ModelEndpoints"]["qwen-72b"] == (
        "http://qwen-72b-serve-svc.inference.svc.cluster.local:8000/v1"
    )


def test_kuberay_operator_chart_is_pinned_with_documented_values(plan_documents: dict[str, Any]) -> None:
    (release,) = [r for r in _of_type(plan_documents["prod"], RELEASE) if r["inputs"]["chart"] == kuberay.CHART]
    inputs = release["inputs"]
    assert inputs["version"] == "1.7.0"
    assert inputs["repositoryOpts"]["repo"] == "https://ray-project.github.io/kuberay-helm/"
    documented = yaml.safe_load((FIXTURES / "kuberay" / "kuberay-operator-values-1.7.0.yaml").read_text())
    assert set(inputs["values"]) <= set(documented)
    assert inputs["values"]["nodeSelector"] == {"kubernetes.azure.com/mode": "system"}
    assert not _of_type(plan_documents["staging"], RAY_SERVICE)
    assert all(r["inputs"]["chart"] != kuberay.CHART for r in _of_type(plan_documents["staging"], RELEASE))


def test_crd_validation_refuses_misspelt_and_mistyped_fields() -> None:
    obj = kaito.workspace(
        "m", "apps", {}, "phi-3-mini-4k-instruct", "Standard_NC8as_T4_v3", "kaito", "blue", 1, None, "m-inference"
    )
    validate_custom(obj)
    typo = copy.deepcopy(obj)
    typo["resource"]["labelSelecter"] = typo["resource"].pop("labelSelector")
    with pytest.raises(jsonschema.ValidationError):
        validate_custom(typo)
    wrong = copy.deepcopy(obj)
    wrong["resource"]["count"] = "1"
    with pytest.raises(jsonschema.ValidationError):
        validate_custom(wrong)


def test_pipeline_stages_are_the_fewest_nodes_that_hold_the_model() -> None:
    qwen = catalog()["qwen2.5-72b-instruct"]

    def at(gpus: int) -> Any:
        return estimate(qwen, "bf16", 8192, 4, gpus)

    # 72.7 B x 2 bytes = 135 GiB: no single 94 GiB H100 NVL (budget 84.6 GiB); two stages hold 69 GiB of weights each.
    assert at(1).total_gib > 94 * 0.9
    assert stages(at, 1, 94 * 0.9, 4) == 2
    assert stages(at, 1, 94 * 0.9, 1) is None
    assert stages(lambda n: estimate(catalog()["llama-3.1-8b-instruct"], "bf16", 8192, 4, n), 1, 84.6, 4) == 1


def test_a_model_too_big_for_one_node_points_at_kuberay() -> None:
    qwen = {"team": "inference", "cluster": "weu1", "model": "qwen2.5-72b-instruct", "pool": "h100mn"}
    line = _one_error(*_cfg_map("prod", {"qwen": qwen}))
    assert "ai-platform:models.qwen: qwen2.5-72b-instruct at bf16" in line
    assert "it fits 2 nodes of h100mn/h100 with runtime: kuberay (TP=1 x PP=2)" in line
    config = load_config(*_cfg_map("prod", {"qwen": {**qwen, "runtime": "kuberay"}}))
    plan, issues = analyse(config.serving)
    assert issues == []
    chosen = plan.fits["qwen"].chosen
    assert chosen is not None
    assert (chosen.tp, chosen.pp, chosen.surge) == (1, 2, 1)
    assert plan.rows()[0]["gpus"] == 2


def test_a_rayservice_upgrade_needs_room_for_a_second_cluster() -> None:
    # maxCount 3: the 2 serving nodes fit, a NewCluster upgrade's 2 more do not.
    pools = {"h100mn": lambda p: {**p, "slots": {"blue": {**p["slots"]["blue"], "maxCount": 3}}}}
    line = _one_error(*_cfg_map("prod", None, **pools))
    assert line.startswith("Pulumi.prod.yaml: ai-platform:models.qwen-72b.replicas: a rollout (RayService NewCluster")
    assert "needs 4 nodes of pool h100mn" in line


def test_rehearsal_schedules_operator_pods_on_their_pools(plan_documents: dict[str, Any]) -> None:
    for stack, name, pool in (
        ("staging", "weu1-models-phi-mini-workspace", "kaitoblue"),
        ("prod", "weu1-models-qwen-72b-rayservice", "h100mnblue"),
    ):
        (workload,) = [w for w in plan_documents[stack]["rehearsal"]["gpuWorkloads"] if w["name"] == name]
        assert workload["pools"] == [pool]
        assert workload["phaseMinutes"]["runtimeStart"] > 0
        (awaited,) = [a for a in plan_documents[stack]["rehearsal"]["awaits"] if a["name"] == name]
        assert awaited["awaitMinutes"] <= awaited["timeoutMinutes"]


def test_fit_command_shows_each_runtime(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "prod"]) == 0
    out = capsys.readouterr().out
    assert any(line.split()[:1] == ["qwen-72b"] and "weu1/h100mn/h100" in line for line in out.splitlines())


def test_an_unknown_runtime_is_one_line_and_exit_2(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text((ROOT / "Pulumi.staging.yaml").read_text().replace("runtime: kaito", "runtime: triton"))
    assert main(["plan", "bad", "--config-file", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.strip().splitlines()
    assert "ai-platform:models.phi-mini.runtime" in line
    assert "triton" in line


def test_ray_pods_reach_the_hub_and_the_operator_reaches_the_head(plan_documents: dict[str, Any]) -> None:
    """With prod's egress default deny and ingress isolation on ``inference``: the Ray pods (which carry no model
    label, so the namespace NetworkPolicy still guards them) get the Hub egress by their own label, and only the
    KubeRay operator's namespace gets in from outside, on the head's dashboard port."""
    document = plan_documents["prod"]
    (service,) = _of_type(document, RAY_SERVICE)
    cluster = service["inputs"]["spec"]["rayClusterConfig"]
    for group in (cluster["headGroupSpec"], *cluster["workerGroupSpecs"]):
        labels = group["template"]["metadata"]["labels"]
        assert labels[RAY_MODEL_LABEL] == "qwen-72b"
        assert MODEL_LABEL not in labels
    hubs = [
        o
        for o in k8s_objects(document, "CiliumNetworkPolicy")
        if o["metadata"]["name"] == "egress-model-hub-ray" and o["metadata"]["namespace"] == "inference"
    ]
    assert len(hubs) == 2  # one per cluster the team is on (weu1, neu1)
    hub = hubs[0]
    assert hub["spec"]["endpointSelector"] == {"matchExpressions": [{"key": RAY_MODEL_LABEL, "operator": "Exists"}]}
    assert {"matchName": "huggingface.co"} in hub["spec"]["egress"][0]["toFQDNs"]
    (ingress,) = [
        o for o in k8s_objects(document, "NetworkPolicy") if o["metadata"]["name"] == "qwen-72b-kuberay-operator"
    ]
    validate_strict(ingress, "1.34")
    assert ingress["metadata"]["namespace"] == "inference"
    assert ingress["spec"]["podSelector"] == {"matchLabels": {RAY_MODEL_LABEL: "qwen-72b", "ray.io/node-type": "head"}}
    from_operator, same_namespace = ingress["spec"]["ingress"]
    assert from_operator == {
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kuberay-system"}}}],
        "ports": [{"protocol": "TCP", "port": 8265}],
    }
    assert same_namespace == {"from": [{"podSelector": {}}]}
    (rayservice,) = [r for r in document["resources"] if r["type"] == RAY_SERVICE]
    assert any(d.endswith("::weu1-models-qwen-72b-kuberay-operator") for d in rayservice["dependencies"])
