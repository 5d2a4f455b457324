"""Model serving: the memory estimate, choice of pool/profile, errors, placement and Kubernetes objects."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest

from components._common import ConfigError
from components.serving import analyse, catalog, estimate, manifests
from components.serving.workload import claim_template_name
from stacks.__main__ import main
from stacks.config import load_config
from stacks.plan import ROOT, read_stack_file
from tests.k8s_schema import k8s_objects, validate_strict

GIB = 1024**3


def _cfg_map(stack: str, **models: dict[str, Any]) -> tuple[dict[str, str], str]:
    stack_file = read_stack_file(stack)
    config_map = dict(stack_file.config_map)
    if models:
        config_map["ai-platform:models"] = json.dumps(models)
    return config_map, stack_file.source


def _cfg(stack: str, **models: dict[str, Any]) -> Any:
    return load_config(*_cfg_map(stack, **models))


def test_llama_8b_bf16_by_hand() -> None:
    e = estimate(catalog()["llama-3.1-8b-instruct"], "bf16", 8192, 16, tp=1)
    # KV bytes/token = 2 x 32 layers x 8 kv heads x 128 head dim x 2 bytes = 131072 (128 KiB)
    assert e.kv_bytes_per_token == 131072
    # KV cache = 131072 x 8192 tokens x 16 sequences = 16 GiB
    assert e.kv_cache_gib == pytest.approx(16.0)
    # weights = 8.03e9 x 2 bytes x 1.02 / 2^30 = 15.256 GiB
    assert e.weights_gib == pytest.approx(8.03e9 * 2 * 1.02 / GIB)
    assert e.total_gib == pytest.approx(15.2562 + 1.7 + 0.6 + 16.0, abs=1e-3)


def test_llama_70b_fp8_tensor_parallel_by_hand() -> None:
    e = estimate(catalog()["llama-3.1-70b-instruct"], "fp8", 8192, 8, tp=2)
    # KV/token = 2 x 80 x 8 x 128 x 2 = 327680 B; x 8192 x 8 = 20 GiB; / TP 2 = 10 GiB per GPU
    assert e.kv_bytes_per_token == 327680
    assert e.kv_cache_gib == pytest.approx(10.0)
    # weights = 70.55e9 x 1 byte / 2 x 1.02 / 2^30 = 33.51 GiB per GPU
    assert e.weights_gib == pytest.approx(70.55e9 / 2 * 1.02 / GIB)
    assert e.weights_gib == pytest.approx(33.51, abs=0.01)


def test_qwen_7b_int4_and_phi3_mha_by_hand() -> None:
    q = estimate(catalog()["qwen2.5-7b-instruct"], "int4", 8192, 8)
    # KV/token = 2 x 28 x 4 x 128 x 2 = 57344 B; x 65536 tokens = 3.5 GiB; weights 7.62e9 x 0.5 x 1.02 = 3.62 GiB
    assert q.kv_cache_gib == pytest.approx(3.5)
    assert q.total_gib == pytest.approx(7.62e9 * 0.5 * 1.02 / GIB + 2.3 + 3.5)
    p = estimate(catalog()["phi-3-mini-4k-instruct"], "bf16", 4096, 4)
    # Phi-3 mini has no GQA: KV/token = 2 x 32 x 32 x 96 x 2 = 393216 B; x 16384 tokens = 6 GiB
    assert p.kv_bytes_per_token == 393216
    assert p.kv_cache_gib == pytest.approx(6.0)


def test_gemma2_9b_fp8_kv_cache_halves_it() -> None:
    auto = estimate(catalog()["gemma-2-9b-it"], "bf16", 8192, 4)
    fp8 = estimate(catalog()["gemma-2-9b-it"], "bf16", 8192, 4, kv_cache_dtype="fp8")
    # KV/token = 2 x 42 x 8 x 256 x 2 = 344064 B (336 KiB); fp8 halves it
    assert auto.kv_bytes_per_token == 344064
    assert fp8.kv_bytes_per_token == 172032


def test_dev_choices_are_the_cheapest_that_fit() -> None:
    plan, issues = analyse(_cfg("dev").serving)
    assert issues == []
    assistant, research = plan.fits["assistant"].chosen, plan.fits["research-3b"].chosen
    assert assistant is not None
    assert research is not None
    assert (assistant.pool_group, assistant.profile, assistant.tp) == ("t4", "t4", 1)
    # fp8 needs compute capability 8.0: the T4 time-shared profile is rejected, the A100 MIG slice chosen
    assert research.profile == "a100-1g"
    t4_shared = next(c for c in plan.fits["research-3b"].candidates if c.profile == "t4-shared")
    assert not t4_shared.fits
    assert "compute capability" in t4_shared.reason


def test_placement_packs_mig_slices_onto_fewer_gpus() -> None:
    plan, _ = analyse(_cfg("dev").serving)
    mig = next(p for p in plan.placements if p.profile == "a100-1g")
    # 2 replicas on 1g.10gb slices: 7 per A100 -> 1 GPU instead of 2 whole GPUs
    assert (mig.replicas, mig.gpus, mig.whole_gpu_alternative) == (2, 1, 2)
    assert plan.to_json()["gpusNeeded"] == 2
    assert plan.to_json()["wholeGpuPerPodGpus"] == 3


def test_time_shared_deployments_share_a_team_claim() -> None:
    models = {
        "a": {
            "team": "research",
            "cluster": "weu1",
            "model": "qwen2.5-7b-instruct",
            "precision": "int4",
            "source": "Qwen/Qwen2.5-7B-Instruct-AWQ",
            "contextLength": 2048,
            "concurrency": 2,
            "profile": "t4-shared",
        },
        "b": {
            "team": "research",
            "cluster": "weu1",
            "model": "qwen2.5-7b-instruct",
            "precision": "int4",
            "source": "Qwen/Qwen2.5-7B-Instruct-AWQ",
            "contextLength": 2048,
            "concurrency": 2,
            "profile": "t4-shared",
        },
    }
    plan, issues = analyse(_cfg("dev", **models).serving)
    assert issues == []
    # each needs 3.62 + 2.3 + 0.22 = 6.1 GiB: two fit one 16 GiB T4 (95%) -> one shared claim, one GPU
    assert plan.fits["a"].shared_claim == plan.fits["b"].shared_claim == "t4-shared-0"
    placement = next(p for p in plan.placements if p.profile == "t4-shared")
    assert (placement.gpus, placement.whole_gpu_alternative) == (1, 2)
    dep = next(o for o in manifests(plan.fits["a"], "research") if o["kind"] == "Deployment")
    assert dep["spec"]["template"]["spec"]["resourceClaims"] == [{"name": "gpu", "resourceClaimName": "t4-shared-0"}]
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    # vLLM takes its share of the GPU only: ceil((6.1 + 0.5) / 16 x 100) / 100 = 0.42
    assert args[args.index("--gpu-memory-utilization") + 1] == "0.42"


def test_a_model_that_fits_nowhere_shows_needed_vs_available() -> None:
    models = {"big": {"team": "apps", "cluster": "weu1", "model": "llama-3.1-70b-instruct"}}
    with pytest.raises(ConfigError) as err:
        _cfg("dev", **models)
    text = "\n".join(err.value.lines)
    assert "ai-platform:models.big:" in text
    assert "t4/t4 (Standard_NC8as_T4_v3, 16 GiB x 0.9 = 14.4 GiB available): needs" in text


@pytest.mark.parametrize(
    ("model", "key", "needle"),
    [
        ({"model": "llama-9"}, "models.m.model", "is not in the model catalog"),
        ({"model": "mistral-7b-instruct-v0.3", "precision": "int4"}, "models.m.source", "pre-quantized"),
        ({"model": "qwen2.5-7b-instruct", "image": "vllm/vllm-openai:latest"}, "models.m.image", "pinned"),
        ({"model": "qwen2.5-7b-instruct", "contextLength": 65536}, "models.m.contextLength", "maximum context"),
        ({"model": "qwen2.5-7b-instruct", "pool": "h100"}, "models.m.pool", "not a GPU pool group"),
        ({"model": "qwen2.5-7b-instruct", "team": "nobody"}, "models.m.team", "not declared"),
        (
            {
                "model": "llama-3.2-3b-instruct",
                "precision": "fp8",
                "replicas": 8,
                "profile": "a100-1g",
                "concurrency": 4,
                "team": "research",
            },
            "models.m.replicas",
            "maxCount",
        ),
    ],
)
def test_config_errors_name_the_key(model: dict[str, Any], key: str, needle: str) -> None:
    spec = {"team": "apps", "cluster": "weu1", **model}
    with pytest.raises(ConfigError) as err:
        _cfg("dev", m=spec)
    lines = [ln for ln in err.value.lines if f"ai-platform:{key}:" in ln]
    assert any(needle in ln for ln in lines), err.value.lines


def test_explicit_params_for_a_model_not_in_the_catalog() -> None:
    params = {
        "parametersBillions": 1.0,
        "layers": 16,
        "attentionHeads": 16,
        "kvHeads": 4,
        "headDim": 64,
        "maxContext": 4096,
    }
    plan, issues = analyse(
        _cfg(
            "dev",
            tiny={
                "team": "apps",
                "cluster": "weu1",
                "params": params,
                "source": "example/tiny-1b",
                "contextLength": 4096,
            },
        ).serving
    )
    assert issues == []
    chosen = plan.fits["tiny"].chosen
    assert chosen is not None
    assert chosen.estimate is not None
    # KV/token = 2 x 16 x 4 x 64 x 2 = 16384 B; x 4096 x 8 = 0.5 GiB
    assert chosen.estimate.kv_cache_gib == pytest.approx(0.5)


def test_kubernetes_objects_are_strictly_valid(plan_documents: dict[str, dict[str, Any]]) -> None:
    found = 0
    for document in plan_documents.values():
        for kind in ("Deployment", "Service", "PodDisruptionBudget", "ResourceClaimTemplate"):
            for obj in k8s_objects(document, kind):
                if obj["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "vllm":
                    validate_strict(obj, "1.34")
                    found += 1
    assert found >= 12


def test_deployment_is_secure_and_scheduled_on_the_active_colour(plan_documents: dict[str, dict[str, Any]]) -> None:
    dep = next(o for o in k8s_objects(plan_documents["prod"], "Deployment") if o["metadata"]["name"] == "chat-70b")
    pod = dep["spec"]["template"]["spec"]
    assert dep["metadata"]["namespace"] == "inference"
    assert pod["nodeSelector"] == {"ai-platform/gpu-pool": "h100", "ai-platform/color": "blue"}
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    spot = {
        "key": "kubernetes.azure.com/scalesetpriority",
        "operator": "Equal",
        "value": "spot",
        "effect": "NoSchedule",
    }
    assert spot not in pod["tolerations"]  # the prod H100 pool is not spot
    dev_spot = next(o for o in k8s_objects(plan_documents["dev"], "Deployment") if o["metadata"]["name"] == "assistant")
    assert dev_spot["spec"]["template"]["spec"]["nodeSelector"]["ai-platform/gpu-pool"] == "t4"  # a spot pool in dev
    assert spot in dev_spot["spec"]["template"]["spec"]["tolerations"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = pod["containers"][0]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["resources"]["claims"] == [{"name": "gpu"}]
    ((claim,),) = [pod["resourceClaims"]]
    assert claim["name"] == "gpu"
    assert claim["resourceClaimTemplateName"].startswith("chat-70b-gpu-")
    assert container["image"] == "vllm/vllm-openai:v0.12.0"
    args = container["args"]
    # Pre-quantized, from prod's weight cache (clusters.weu1.weightCache) where its fill Job put it.
    assert args[args.index("--model") + 1] == "/weights/RedHatAI--Llama-3.3-70B-Instruct-FP8-dynamic"
    assert args[args.index("--tensor-parallel-size") + 1] == "1"
    rct = next(
        o
        for o in k8s_objects(plan_documents["prod"], "ResourceClaimTemplate")
        if o["metadata"]["name"] == claim["resourceClaimTemplateName"]
    )
    request = rct["spec"]["spec"]["devices"]["requests"][0]
    assert request["exactly"]["deviceClassName"] == "h100.gpu.ai-platform"
    assert request["exactly"]["count"] == 1


def test_a_changed_device_request_is_a_new_claim_template() -> None:
    """ResourceClaimTemplate specs are immutable: another device class or TP must get another name."""
    plan, _ = analyse(_cfg("prod").serving)
    fit = plan.fits["chat-70b"]
    assert fit.chosen is not None
    other = dataclasses.replace(fit, chosen=dataclasses.replace(fit.chosen, device_class="a100-3g.mig.ai-platform"))
    assert claim_template_name(other) != claim_template_name(fit)
    assert claim_template_name(fit) == claim_template_name(dataclasses.replace(fit))


def test_bf16_falls_back_to_half_on_t4() -> None:
    plan, _ = analyse(
        _cfg(
            "dev",
            s={
                "team": "apps",
                "cluster": "weu1",
                "model": "llama-3.2-3b-instruct",
                "contextLength": 4096,
                "concurrency": 4,
            },
        ).serving
    )
    dep = next(o for o in manifests(plan.fits["s"], "apps") if o["kind"] == "Deployment")
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--dtype") + 1] == "half"


def test_fp8_keeps_bf16_activations_on_hopper(plan_documents: dict[str, Any]) -> None:
    # prod's chat-70b: Llama 3.3 70B as a pre-quantized fp8 checkpoint on H100 NVL: the layers it keeps
    # unquantized run in bf16, not fp16 (which can overflow for bf16-trained weights).
    dep = next(o for o in k8s_objects(plan_documents["prod"], "Deployment") if o["metadata"]["name"] == "chat-70b")
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--quantization" not in args
    assert args[args.index("--dtype") + 1] == "bfloat16"


def test_models_depend_on_team_namespace(plans: dict[str, Any]) -> None:
    document = plans["dev"].to_json()
    dep = next(r for r in document["resources"] if r["name"] == "weu1-models-assistant-deployment")
    assert any(d.endswith("::weu1-dra-ns-apps") for d in dep["dependencies"])
    assert copy.deepcopy(dep["inputs"])["metadata"]["namespace"] == "apps"


def test_fit_command_prints_the_table_and_refuses_bad_config(tmp_path, capsys) -> None:
    assert main(["fit", "dev"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "pool/profile" in line)
    assert header.split()[:4] == ["model", "team", "precision", "GPUs"]
    for column in ("need/avail GiB/GPU", "KV tokens", "tok/s", "USD/Mtok", "USD/month"):
        assert column in header
    assert any(line.split()[:1] == ["assistant"] and "weu1/t4/t4" in line for line in out.splitlines())
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text((ROOT / "Pulumi.dev.yaml").read_text().replace("concurrency: 3", "concurrency: 300"))
    assert main(["fit", "bad", "--config-file", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "ai-platform:models.research-3b" in err


def test_rollouts_never_drop_a_serving_replica(plan_documents: dict[str, dict[str, Any]]) -> None:
    found = 0
    for document in plan_documents.values():
        for dep in k8s_objects(document, "Deployment"):
            if dep["metadata"].get("labels", {}).get("app.kubernetes.io/name") != "vllm":
                continue
            strategy = dep["spec"]["strategy"]
            assert strategy["type"] == "RollingUpdate"
            assert strategy["rollingUpdate"]["maxUnavailable"] == 0
            assert strategy["rollingUpdate"]["maxSurge"] >= 1
            found += 1
    assert found >= 3


def _staging_mistral(**changes: Any) -> dict[str, Any]:
    return {
        "team": "research",
        "cluster": "weu1",
        "model": "mistral-7b-instruct-v0.3",
        "contextLength": 8192,
        "concurrency": 8,
        **changes,
    }


def test_team_quota_leaves_room_for_the_rollouts_surge_pod() -> None:
    # staging: research may hold 4 a100-3g slices; 4 replicas hold all of them, the surge pod a 5th.
    with pytest.raises(ConfigError) as caught:
        _cfg("staging", mistral=_staging_mistral(replicas=4))
    (line,) = caught.value.lines
    assert "ai-platform:models.mistral.replicas: team research needs 5 a100-3g devices on weu1" in line
    assert "but its quota is 4" in line
    assert _cfg("staging", mistral=_staging_mistral(replicas=3)).models["mistral"].replicas == 3


def test_max_count_leaves_room_for_the_rollouts_surge_pod() -> None:
    # 4 replicas on 2-slice NC24ads nodes fill blue's 2 nodes; the surge pod needs a third.
    config_map, source = _cfg_map("staging", mistral=_staging_mistral(replicas=4))
    teams = json.loads(config_map["ai-platform:teams"])
    teams["research"]["profiles"]["a100-3g"] = 8
    clusters = json.loads(config_map["ai-platform:clusters"])
    clusters["weu1"]["gpuPools"]["a100"]["slots"]["blue"]["maxCount"] = 2
    config_map.update({"ai-platform:teams": json.dumps(teams), "ai-platform:clusters": json.dumps(clusters)})
    with pytest.raises(ConfigError) as caught:
        load_config(config_map, source)
    (line,) = caught.value.lines
    assert "ai-platform:models.mistral.replicas: a rollout (maxSurge 1, maxUnavailable 0) needs 3 nodes" in line
