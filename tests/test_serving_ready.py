"""Model servers become Ready on a first deploy: pool dependency, await timeouts, weight storage sized from the
checkpoint actually downloaded, pre-quantized checkpoints, and the Hugging Face token Secret from secret config."""

from __future__ import annotations

import json
from typing import Any

import pytest

import stacks.plan as plan_module
from components._common import ConfigError
from components.serving import analyse, manifests, timing
from stacks.config import load_config
from stacks.plan import read_stack_file, run_program
from tests.helpers import recording_monitors
from tests.k8s_schema import k8s_objects

POOL = "azure-native:containerservice:AgentPool"


def _resource(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in document["resources"] if r["name"] == name)


def _pod(document: dict[str, Any], name: str) -> dict[str, Any]:
    dep = next(o for o in k8s_objects(document, "Deployment") if o["metadata"]["name"] == name)
    return dep["spec"]["template"]["spec"]


def _with_models(stack: str, **models: dict[str, Any]) -> tuple[dict[str, str], str]:
    """The stack with ``models`` instead of its own (none given: its own models), weight cache off."""
    stack_file = read_stack_file(stack)
    config_map = dict(stack_file.config_map)
    if models:
        config_map["ai-platform:models"] = json.dumps(models)
    clusters = json.loads(config_map["ai-platform:clusters"])
    for cluster in clusters.values():
        cluster.pop("weightCache", None)
    config_map["ai-platform:clusters"] = json.dumps(clusters)
    return config_map, stack_file.source


def _config_error(stack: str, **models: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(*_with_models(stack, **models))
    return caught.value.lines


def test_each_model_waits_for_the_pool_it_is_placed_on(plan_documents: dict[str, dict[str, Any]]) -> None:
    # prod's chat-70b runs on h100blue; pools of a cluster are created one after another, so it must wait for it.
    dep = _resource(plan_documents["prod"], "weu1-models-chat-70b-deployment")
    pools = [d for d in dep["dependencies"] if f"${POOL}::" in d]
    assert [p.rsplit("::", 1)[1] for p in pools] == ["weu1-gpu-h100blue"]
    research = _resource(plan_documents["dev"], "weu1-models-research-3b-deployment")
    assert [d.rsplit("::", 1)[1] for d in research["dependencies"] if f"${POOL}::" in d] == ["weu1-gpu-a100blue"]


def test_await_covers_node_image_pull_download_and_load(plan_documents: dict[str, dict[str, Any]]) -> None:
    # By hand for prod chat-70b (RedHatAI FP8 checkpoint, 70.55 B parameters at 1.15 bytes = 75.6 GiB):
    # node 6 + DRA plugin 1 + image 12.6 GiB at 100 MiB/s + 28.6 GiB unpacked at 200 MiB/s (4.6 min)
    # + download 75.6 GiB at 200 MiB/s (6.4 min) + load at 500 MiB/s (2.6 min) = 20.6 min;
    # x 1.5 + 10 = 40.9 -> 45m. Update: 2 replicas, 1 surge pod at a time -> 2 x 20.6 x 1.5 + 10 -> 75m.
    gib = 70.55e9 * 1.15 / 1024**3
    minutes = timing.ready_minutes(gib, "vllm/vllm-openai:v0.12.0")
    assert sum(minutes.values()) == pytest.approx(20.6, abs=0.1)
    assert timing.await_timeouts(gib, "vllm/vllm-openai:v0.12.0", 2, 1) == {"create": "45m", "update": "75m"}
    # prod serves it from its weight cache: no download per pod, the load streams at 400 MiB/s (3.2 min):
    # 7 + 4.6 + 3.2 = 14.8 x 1.5 + 10 -> 35m; update 2 x 14.8 x 1.5 + 10 -> 55m. The fill Job (node 6 + image 4.6
    # + download 6.4 = 17.0 min) x 1.5 + 10 -> 40m.
    for name in ("weu1-models-chat-70b-deployment", "weu1-models-chat-70b-service"):
        assert _resource(plan_documents["prod"], name)["customTimeouts"] == {"create": "35m", "update": "55m"}
    fill = next(r for r in plan_documents["prod"]["resources"] if r["type"] == "kubernetes:batch/v1:Job")
    assert fill["customTimeouts"] == {"create": "40m", "update": "40m"}
    for document in plan_documents.values():
        for r in document["resources"]:
            if r["type"] == "kubernetes:apps/v1:Deployment" and "-models-" in r["name"]:
                create = int(r["customTimeouts"]["create"].rstrip("m"))
                assert create > 10, r["name"]  # beyond pulumi-kubernetes' 10-minute default


def test_weight_volume_is_sized_from_the_downloaded_checkpoint(plan_documents: dict[str, dict[str, Any]]) -> None:
    cfg = load_config(*_with_models("prod"))
    plan, _ = analyse(cfg.serving)
    dep = next(o for o in manifests(plan.fits["chat-70b"], "inference") if o["kind"] == "Deployment")
    pod = dep["spec"]["template"]["spec"]
    models = next(v for v in pod["volumes"] if v["name"] == "models")
    # Without a weight cache: 75.6 GiB fp8 checkpoint x 1.1 + 2 = 85.1 -> 86 GiB; the scheduler reserves it (and
    # /tmp's 20 GiB).
    assert models["emptyDir"] == {"sizeLimit": "86Gi"}
    assert pod["containers"][0]["resources"]["requests"]["ephemeral-storage"] == "106Gi"
    # prod's cache is on: the pod mounts it read-only and reserves only /tmp on the node.
    cached = _pod(plan_documents["prod"], "chat-70b")
    assert next(v for v in cached["volumes"] if v["name"] == "models") == {
        "name": "models",
        "persistentVolumeClaim": {"claimName": "weight-cache", "readOnly": True},
    }
    assert cached["containers"][0]["resources"]["requests"]["ephemeral-storage"] == "20Gi"


def test_load_time_fp8_downloads_the_16_bit_checkpoint() -> None:
    # Mistral has no fp8 checkpoint in the catalog: fp8 quantizes the bf16 checkpoint at load time, so the
    # volume holds 7.25 B x 2 bytes = 13.5 GiB (x 1.1 + 2 -> 17 GiB), not the 6.8 GiB of fp8 weights.
    cfg = load_config(
        *_with_models(
            "staging",
            mistral={"team": "research", "cluster": "weu1", "model": "mistral-7b-instruct-v0.3", "precision": "fp8"},
        )
    )
    plan, _ = analyse(cfg.serving)
    dep = next(o for o in manifests(plan.fits["mistral"], "research") if o["kind"] == "Deployment")
    pod = dep["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert args[args.index("--model") + 1] == "mistralai/Mistral-7B-Instruct-v0.3"
    assert args[args.index("--quantization") + 1] == "fp8"
    assert next(v for v in pod["volumes"] if v["name"] == "models")["emptyDir"] == {"sizeLimit": "17Gi"}


def test_quantized_precisions_use_pre_quantized_checkpoints(plan_documents: dict[str, dict[str, Any]]) -> None:
    args = _pod(plan_documents["dev"], "research-3b")["containers"][0]["args"]
    assert args[args.index("--model") + 1] == "RedHatAI/Llama-3.2-3B-Instruct-FP8-dynamic"
    assert "--quantization" not in args


def test_load_time_quantization_that_does_not_fit_the_gpu_is_a_config_error() -> None:
    # Qwen2.5 72B has no fp8 checkpoint: quantizing at load time first holds 72.7 B x 2 bytes = 138 GiB on one
    # 94 GiB H100 NVL.
    lines = _config_error(
        "prod",
        m={
            "team": "inference",
            "cluster": "weu1",
            "model": "qwen2.5-72b-instruct",
            "precision": "fp8",
            "contextLength": 4096,
            "concurrency": 1,
        },
    )
    # The 16-bit download would not fit the node's disk either (a second line, on osDiskSizeGb).
    (line,) = [x for x in lines if "models.m.precision" in x]
    assert line.startswith("Pulumi.prod.yaml: ai-platform:models.m.precision: fp8 has no pre-quantized checkpoint")
    assert "> 94 GiB" in line
    assert "allowed: a precision with a catalog checkpoint (bf16, int4)" in line


def test_a_checkpoint_the_node_disk_cannot_hold_is_a_config_error() -> None:
    config_map, source = _with_models(
        "prod",
        chat={
            "team": "inference",
            "cluster": "weu1",
            "model": "llama-3.3-70b-instruct",
            "precision": "fp8",
            "concurrency": 4,
        },
    )
    clusters = json.loads(config_map["ai-platform:clusters"])
    clusters["weu1"]["gpuPools"]["h100"]["slots"]["blue"]["osDiskSizeGb"] = 128
    config_map["ai-platform:clusters"] = json.dumps(clusters)
    with pytest.raises(ConfigError) as caught:
        load_config(config_map, source)
    (line,) = caught.value.lines
    assert line.startswith("Pulumi.prod.yaml: ai-platform:clusters.weu1.gpuPools.h100.slots.blue.osDiskSizeGb: leaves")
    assert "into a 106 GiB volume (got 128; allowed: >= " in line
    # With the weight cache on, the pod streams its weights from it: the node's disk only holds /tmp.
    clusters["weu1"]["weightCache"] = {"enabled": True}
    config_map["ai-platform:clusters"] = json.dumps(clusters)
    assert load_config(config_map, source).clusters["weu1"].weight_cache.enabled


def test_token_secret_is_created_from_secret_config(plan_documents: dict[str, dict[str, Any]]) -> None:
    # dev's research-3b (gated Llama) downloads its own checkpoint: the token is in its team namespace.
    document = plan_documents["dev"]
    secret = _resource(document, "weu1-models-research-hf-token-huggingfacetoken")
    assert secret["inputs"]["metadata"]["namespace"] == "research"
    assert secret["inputs"]["stringData"] == "[secret]"
    pod = _pod(document, "research-3b")
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["HF_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": "hf-token-huggingfacetoken", "key": "token"}}
    dep = _resource(document, "weu1-models-research-3b-deployment")
    assert secret["urn"] in dep["dependencies"]
    # prod's chat-70b comes from the weight cache: only its fill Job (in the cache namespace) holds the token.
    prod = plan_documents["prod"]
    cached = _resource(prod, "weu1-weights-hf-token-huggingfacetoken")
    assert cached["inputs"]["metadata"]["namespace"] == "ai-platform-weights"
    assert not [r for r in prod["resources"] if r["name"] == "weu1-models-inference-hf-token-huggingfacetoken"]
    assert "HF_TOKEN" not in {e["name"] for e in _pod(prod, "chat-70b")["containers"][0]["env"]}
    fill = next(r for r in prod["resources"] if r["type"] == "kubernetes:batch/v1:Job")
    fill_env = {e["name"]: e for e in fill["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert fill_env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "hf-token-huggingfacetoken"
    assert cached["urn"] in fill["dependencies"]


def test_gated_model_without_a_token_is_a_config_error_before_anything_registers() -> None:
    with pytest.MonkeyPatch.context() as patch, recording_monitors(patch) as monitors:
        patch.setattr(plan_module, "token_config_keys", lambda models: [])  # as `pulumi up` sees the stack file
        with pytest.raises(ConfigError) as caught:
            run_program(read_stack_file("prod"))
    (line,) = caught.value.lines
    assert line == (
        "Pulumi.prod.yaml: ai-platform-secrets:huggingFaceToken: is required by ai-platform:models.chat-70b "
        "(gated Hugging Face checkpoint RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic) (got nothing). "
        "Fix: pulumi config set --secret ai-platform-secrets:huggingFaceToken <Hugging Face read token>"
    )
    (monitor,) = monitors
    assert monitor.registrations == []


def test_non_gated_models_need_no_token(plan_documents: dict[str, dict[str, Any]]) -> None:
    # dev's assistant (Qwen, Apache-2.0) gets no HF_TOKEN; research-3b (Llama) does.
    assert "HF_TOKEN" not in {e["name"] for e in _pod(plan_documents["dev"], "assistant")["containers"][0]["env"]}
    assert "HF_TOKEN" in {e["name"] for e in _pod(plan_documents["dev"], "research-3b")["containers"][0]["env"]}
