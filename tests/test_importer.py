"""``python -m stacks model import``: parameter counts and KV cache from published config.json files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.serving import catalog, estimate
from components.serving.importer import import_config
from components.serving.spec import ModelParams
from stacks.__main__ import main

FIXTURES = Path(__file__).parent / "fixtures" / "hf-configs"

# Model cards (huggingface.co/<repo>): total parameters; MoE: active per token too.
CARDS: list[tuple[str, float, float | None]] = [
    ("llama-3.1-8b-instruct", 8.03e9, None),
    ("llama-3.1-70b-instruct", 70.6e9, None),
    ("llama-3.1-405b-instruct", 405e9, None),
    ("qwen2.5-7b-instruct", 7.61e9, None),
    ("qwen2.5-72b-instruct", 72.7e9, None),
    ("mixtral-8x7b-instruct-v0.1", 46.7e9, 12.9e9),
    ("deepseek-v3", 671e9, 37e9),
    ("mistral-7b-instruct-v0.3", 7.25e9, None),
    ("gemma-2-9b-it", 9.24e9, None),
]


def _config(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.mark.parametrize(("name", "total", "active"), CARDS)
def test_counts_agree_with_the_model_card_within_2_percent(name: str, total: float, active: float | None) -> None:
    model = import_config(_config(name))
    assert model.parameters == pytest.approx(total, rel=0.02)
    if active is None:
        assert model.active_parameters == model.parameters
    else:
        # The cards round active parameters (DeepSeek-V3: "37B"; tt-metal's weight notes: 36.6B + 0.9B head).
        assert model.active_parameters == pytest.approx(active, rel=0.03)
        assert model.active_parameters < model.parameters / 3


def test_llama_8b_by_hand() -> None:
    m = import_config(_config("llama-3.1-8b-instruct"))
    embeddings = 2 * 128256 * 4096  # untied: embed_tokens + lm_head
    attention = 4096 * 4096 * 2 + 2 * 4096 * 8 * 128  # q, o + k, v (GQA: 8 KV heads x 128)
    mlp = 3 * 4096 * 14336
    assert m.parameters == embeddings + 32 * (attention + mlp + 2 * 4096) + 4096
    assert m.kv_bytes_per_token == 2 * 32 * 8 * 128 * 2 == 131072
    assert (m.default_precision, m.max_context, m.key, m.source) == (
        "bf16",
        131072,
        "llama-3.1-8b-instruct",
        "meta-llama/Llama-3.1-8B-Instruct",
    )


def test_qwen2_counts_its_qkv_biases() -> None:
    config = _config("qwen2.5-7b-instruct")
    with_bias = import_config(config).parameters
    # Same shapes as Llama-style attention without the q/k/v biases: 28 layers x (3584 + 2 x 512)
    as_llama = import_config({**config, "model_type": "llama"}).parameters
    assert with_bias - as_llama == 28 * (3584 + 2 * 512)


def test_tied_embeddings_count_once() -> None:
    config = _config("llama-3.1-8b-instruct")
    untied = import_config(config).parameters
    tied = import_config({**config, "tie_word_embeddings": True}).parameters
    assert untied - tied == 128256 * 4096


def test_deepseek_latent_attention_caches_the_latent_per_layer() -> None:
    m = import_config(_config("deepseek-v3"))
    # MLA caches kv_lora_rank + qk_rope_head_dim = 512 + 64 per layer (not per head), 61 layers, 16 bits
    assert m.kv_cache_dim == 576
    assert m.kv_bytes_per_token == 61 * 576 * 2 == 70272
    # GQA with its 128 KV heads x 192 would be 2 x 61 x 128 x 192 x 2 bytes: MLA is ~57x smaller
    assert 2 * 61 * 128 * 192 * 2 / m.kv_bytes_per_token > 50
    # quantization_config fp8: the published checkpoint is served as it is stored
    assert m.default_precision == "fp8"


def test_mixtral_holds_every_expert_and_reads_two() -> None:
    m = import_config(_config("mixtral-8x7b-instruct-v0.1"))
    expert = 3 * 4096 * 14336
    assert m.parameters - m.active_parameters == 32 * 6 * expert


def test_catalog_entries_match_their_config_json() -> None:
    """Every catalog model with a fixture has the importer's numbers (and the fit's KV bytes agree)."""
    shipped = catalog()
    checked = 0
    for path in sorted(FIXTURES.glob("*.json")):
        m = import_config(json.loads(path.read_text()))
        arch = shipped.get(m.key)
        if arch is None:
            continue
        checked += 1
        assert arch.parameters_billions == pytest.approx(m.parameters / 1e9, rel=0.01), m.key
        assert arch.active_billions == pytest.approx(m.active_parameters / 1e9, rel=0.01), m.key
        assert (arch.layers, arch.attention_heads, arch.kv_heads, arch.max_context) == (
            m.layers,
            m.attention_heads,
            m.kv_heads,
            m.max_context,
        ), m.key
        assert estimate(arch, "bf16", 1024, 1).kv_bytes_per_token == m.kv_bytes_per_token, m.key
    assert checked >= 7


def test_cli_prints_an_entry_the_catalog_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "import", str(FIXTURES / "deepseek-v3.json")]) == 0
    out = capsys.readouterr().out
    document = yaml.safe_load("models:\n" + out)
    entry = document["models"]["deepseek-v3"]
    assert entry["sources"] == {"fp8": "deepseek-ai/DeepSeek-V3"}
    assert (entry["kvCacheDim"], entry["defaultPrecision"]) == (576, "fp8")
    params = ModelParams.model_validate({k: v for k, v in entry.items() if k not in ("sources", "gated")})
    assert params.parameters_billions == pytest.approx(671.03)


def test_cli_append_writes_the_catalog_and_refuses_a_duplicate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog_file = tmp_path / "models.yaml"
    catalog_file.write_text("models:\n  existing:\n    sources: {}\n")
    args = ["model", "import", str(FIXTURES / "qwen2.5-7b-instruct.json"), "--catalog", str(catalog_file)]
    assert main([*args, "--name", "my-qwen", "--append"]) == 0
    capsys.readouterr()
    models = yaml.safe_load(catalog_file.read_text())["models"]
    assert set(models) == {"existing", "my-qwen"}
    assert models["my-qwen"]["parametersBillions"] == 7.62
    before = catalog_file.read_text()
    assert main([*args, "--name", "my-qwen", "--append"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("--name: my-qwen is already in models.yaml")
    assert catalog_file.read_text() == before


def test_safetensors_index_cross_checks_the_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = tmp_path / "model.safetensors.index.json"
    # 8.03e9 parameters x 2 bytes (bf16)
    index.write_text(json.dumps({"metadata": {"total_size": 16060522496}, "weight_map": {}}))
    config = str(FIXTURES / "llama-3.1-8b-instruct.json")
    assert main(["model", "import", config, "--safetensors-index", str(index)]) == 0
    assert "# safetensors index: 16,060,522,496 bytes = 8.03B parameters at bf16" in capsys.readouterr().out
    index.write_text(json.dumps({"metadata": {"total_size": 141e9}}))  # a 70B index beside the 8B config
    assert main(["model", "import", config, "--safetensors-index", str(index)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("model.safetensors.index.json: metadata.total_size: gives 70.50B parameters")


def _bad(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.json"
    path.write_text(text)
    return path


BASE = json.dumps(json.loads((FIXTURES / "llama-3.1-8b-instruct.json").read_text()))


@pytest.mark.parametrize(
    ("text", "starts"),
    [
        ("{not json", "config.json: config.json is not JSON (Expecting property name"),
        ("[1, 2]", "config.json: config.json must be a JSON object (got list)"),
        (BASE.replace('"rms_norm_eps": 1e-05', '"rms_norm_eps": NaN'), "config.json: config.json holds NaN"),
        (BASE.replace('"model_type": "llama"', '"model_type": "mamba"'), "config.json: model_type: is not an"),
        (BASE.replace('"num_hidden_layers": 32', '"num_hidden_layers": true'), "config.json: num_hidden_layers: must"),
        (BASE.replace('"hidden_size": 4096', '"hidden_size": -1'), "config.json: hidden_size: must be an integer"),
        (BASE.replace('"vocab_size": 128256', '"vocab": 128256'), "config.json: vocab_size: is missing"),
        (BASE.replace('"num_key_value_heads": 8', '"num_key_value_heads": 7'), "config.json: num_key_value_heads:"),
        (BASE.replace('"torch_dtype": "bfloat16"', '"torch_dtype": "int3"'), "config.json: torch_dtype: is not"),
        (BASE.replace('"tie_word_embeddings": false', '"tie_word_embeddings": "no"'), "config.json: tie_word_em"),
    ],
)
def test_bad_config_json_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, starts: str
) -> None:
    assert main(["model", "import", str(_bad(tmp_path, text))]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(starts), captured.err
    assert captured.err.count("\n") == 1
    assert "Traceback" not in captured.err


def test_unknown_architecture_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = {**json.loads(BASE), "model_type": "falcon_mamba", "architectures": ["FalconMambaForCausalLM"]}
    assert main(["model", "import", str(_bad(tmp_path, json.dumps(config)))]) == 2
    err = capsys.readouterr().err
    assert "model_type: is not an architecture the importer can count" in err
    assert "FalconMambaForCausalLM" in err
    assert "supported: llama, mistral, qwen2, mixtral, gemma2, deepseek_v2, deepseek_v3" in err


def test_missing_files_and_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "import", str(tmp_path / "nope.json")]) == 2
    assert capsys.readouterr().err.startswith("nope.json: config.json does not exist")
    assert main(["model", "import", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    anonymous = {k: v for k, v in json.loads(BASE).items() if k != "_name_or_path"}
    assert main(["model", "import", str(_bad(tmp_path, json.dumps(anonymous)))]) == 2
    assert capsys.readouterr().err.startswith("--name: is required")
    assert main(["model", "import", str(_bad(tmp_path, BASE)), "--name", "Bad Name"]) == 2
    assert capsys.readouterr().err.startswith("--name: is not a catalog key")
    assert main(["model", "import", str(_bad(tmp_path, BASE)), "--source", "not a repo"]) == 2
    assert capsys.readouterr().err.startswith("--source: is not a Hugging Face repository id")


@pytest.mark.parametrize(
    ("quantization", "precision"),
    [
        ({"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm", "zero_point": True}, "int4"),
        ({"quant_method": "gptq", "bits": 8}, "int8"),
        (
            {
                "quant_method": "compressed-tensors",
                "config_groups": {"group_0": {"weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}},
            },
            "fp8",
        ),
        (
            {
                "quant_method": "compressed-tensors",
                "config_groups": {"group_0": {"weights": {"num_bits": 4, "type": "int", "group_size": 128}}},
            },
            "int4",
        ),
    ],
)
def test_pre_quantized_checkpoints_keep_their_precision(quantization: dict[str, Any], precision: str) -> None:
    config = {**_config("llama-3.1-8b-instruct"), "quantization_config": quantization}
    assert import_config(config).default_precision == precision


def test_unknown_quantization_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = {**_config("llama-3.1-8b-instruct"), "quantization_config": {"quant_method": "bitsandbytes"}}
    assert main(["model", "import", str(_bad(tmp_path, json.dumps(config)))]) == 2
    assert capsys.readouterr().err.startswith(
        "config.json: quantization_config.quant_method: is not a quantization the catalog describes "
        '(got "bitsandbytes")'
    )


def test_append_to_a_broken_catalog_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog_file = tmp_path / "models.yaml"
    catalog_file.write_text("models: [unclosed\n")
    config = str(FIXTURES / "qwen2.5-7b-instruct.json")
    assert main(["model", "import", config, "--append", "--catalog", str(catalog_file)]) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err.count("\n")) == ("", 1)
    assert captured.err.startswith("--append: cannot read the catalog models.yaml")
    assert catalog_file.read_text() == "models: [unclosed\n"


@pytest.mark.parametrize("fixture", ["llama-3.1-8b-instruct", "deepseek-v3", "qwen2.5-7b-instruct"])
def test_any_mistyped_value_is_one_line_or_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fixture: str
) -> None:
    """Every key replaced by each wrong JSON type: exit 0 (a key the importer does not read) or one line, exit 2."""
    base = _config(fixture)
    wrongs: list[Any] = [[], {}, "x", 1e300, -1, None, True, [[1]]]
    variants = [{**base, key: wrong} for key in base for wrong in wrongs]
    compressed = "compressed-tensors"
    variants += [{**base, "quantization_config": {"quant_method": compressed, "config_groups": w}} for w in wrongs]
    variants += [
        {**base, "quantization_config": {"quant_method": compressed, "config_groups": {"g": {"weights": w}}}}
        for w in wrongs
    ]
    variants += [
        {
            **base,
            "quantization_config": {
                "quant_method": compressed,
                "config_groups": {"g": {"weights": {"num_bits": w, "type": w}}},
            },
        }
        for w in wrongs
    ]
    accepted = 0
    for variant in variants:
        key, wrong = next(((k, v) for k, v in variant.items() if base.get(k) != v), ("", None))
        path = _bad(tmp_path, json.dumps(variant))
        code = main(["model", "import", str(path), "--name", "probe"])
        captured = capsys.readouterr()
        assert code in (0, 2), (key, wrong)
        if code == 2:
            assert captured.out == "", (key, wrong)
            assert captured.err.count("\n") == 1, (key, wrong, captured.err)
        else:
            accepted += 1
    # Keys the importer does not read (token ids, rope settings) take any value; the counted ones never do.
    assert 0 < accepted < len(variants)
