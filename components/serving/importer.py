"""A catalog entry from a Hugging Face ``config.json``: parameters, KV cache per token, dtype, context.

``python -m stacks model import CONFIG_JSON`` reads a file the user downloaded (no network) and prints the
entry in ``components/data/models.yaml``'s format. The parameter count is computed from the architecture,
tensor by tensor as the Hugging Face ``transformers`` modelling code lays it out:

- embeddings ``vocab x hidden``, plus an ``lm_head`` of the same shape unless ``tie_word_embeddings``;
- attention, grouped-query (``llama``, ``mistral``, ``qwen2``, ``mixtral``, ``gemma2``): q ``hidden x heads x
  head_dim``, k and v ``hidden x kv_heads x head_dim`` each, o ``heads x head_dim x hidden``; biases on q/k/v for
  ``qwen2``, on all four with ``attention_bias``;
- attention, multi-head latent (``deepseek_v2``, ``deepseek_v3``): q through ``q_lora_rank`` (down, norm, up to
  ``heads x (qk_nope_head_dim + qk_rope_head_dim)``) or directly, kv down to ``kv_lora_rank + qk_rope_head_dim``,
  its norm, kv up to ``heads x (qk_nope_head_dim + v_head_dim)``, o ``heads x v_head_dim x hidden``;
- MLP, gated (SwiGLU/GeGLU): 3 matrices ``hidden x intermediate``; mixture of experts with every expert
  resident: ``num_local_experts`` (Mixtral) or ``n_routed_experts + n_shared_experts`` (DeepSeek, size
  ``moe_intermediate_size``, dense MLPs in the first ``first_k_dense_replace`` layers) plus the router;
- RMSNorm weights: 2 per layer (4 for ``gemma2``) and the final norm.

DeepSeek-V3's multi-token-prediction layers (``num_nextn_predict_layers``) are not counted: vLLM serves the
main model, and the model card's 671B excludes them. Active parameters (read per decoded token) leave out the
experts a token is not routed to (``num_experts_per_tok``). KV cache per token: ``2 x kv_heads x head_dim`` per
layer (GQA), ``kv_lora_rank + qk_rope_head_dim`` per layer (MLA). Anything else is refused naming the key.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components._common import ConfigError

GQA_TYPES = ("llama", "mistral", "qwen2", "mixtral", "gemma2")
MLA_TYPES = ("deepseek_v2", "deepseek_v3")
SUPPORTED = (*GQA_TYPES, *MLA_TYPES)
DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "bf16"}
"""config.json ``torch_dtype`` -> serving precision. A float32 checkpoint is served in 16 bits: the workload
passes ``--dtype bfloat16`` (``half`` on GPUs below compute capability 8.0) and vLLM casts at load; its download
is twice the 16-bit size (the entry's comment says so)."""
BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
CATALOG_KEY = re.compile(r"^[a-z0-9][a-z0-9.-]{0,62}$")
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
INDEX_TOLERANCE = 0.10
"""The safetensors index and the architecture count may differ this much (extra layers such as DeepSeek-V3's
multi-token prediction, fp8 scale tensors); beyond it the two files describe different models."""


@dataclass(frozen=True)
class ImportedModel:
    """What the catalog needs, computed from config.json (and, when given, the safetensors index)."""

    key: str
    source: str | None
    model_type: str
    parameters: int
    active_parameters: int
    layers: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    kv_cache_dim: int | None
    """Per layer, multi-head latent attention only."""
    kv_bytes_per_token: int
    """16-bit KV cache, all layers."""
    max_context: int
    default_precision: str
    index_bytes: int | None = None
    stored_dtype: str = "bfloat16"

    def entry(self, gated: bool = False) -> dict[str, Any]:
        """The models.yaml entry (keys as ``ModelParams`` reads them)."""
        body: dict[str, Any] = {
            "sources": {self.default_precision: self.source} if self.source else {},
            "parametersBillions": round(self.parameters / 1e9, 2),
            "layers": self.layers,
            "attentionHeads": self.attention_heads,
            "kvHeads": self.kv_heads,
            "headDim": self.head_dim,
            "maxContext": self.max_context,
            "defaultPrecision": self.default_precision,
            "gated": gated,
        }
        if self.active_parameters != self.parameters:
            body["activeParametersBillions"] = round(self.active_parameters / 1e9, 2)
        if self.kv_cache_dim is not None:
            body["kvCacheDim"] = self.kv_cache_dim
        return body

    def yaml(self, gated: bool = False) -> str:
        """The entry as it goes under ``models:`` in models.yaml, with a comment of how it was derived."""
        body = self.entry(gated)
        lines = [
            f"  # imported from config.json (model_type {self.model_type}): {self.parameters:,} parameters"
            + (f", {self.active_parameters:,} active" if self.active_parameters != self.parameters else "")
            + f"; KV cache {self.kv_bytes_per_token:,} bytes/token at 16 bits",
        ]
        if self.stored_dtype == "float32":
            lines.append("  # the checkpoint is stored in float32: its download is 4 bytes per parameter")
        if self.index_bytes is not None:
            lines.append(
                f"  # safetensors index: {self.index_bytes:,} bytes = "
                f"{self.index_bytes / BYTES[self.default_precision] / 1e9:.2f}B parameters at {self.default_precision} "
                f"({self.index_bytes / self.parameters:.2f} bytes per counted parameter)"
            )
        lines.append(f"  {self.key}:")
        sources = body.pop("sources")
        if sources:
            lines.append("    sources:")
            lines.extend(f"      {precision}: {repo}" for precision, repo in sources.items())
        else:
            lines.append("    sources: {}   # add the Hugging Face repository id per precision (--source)")
        for key, value in body.items():
            lines.append(f"    {key}: {str(value).lower() if isinstance(value, bool) else value}")
        return "\n".join(lines) + "\n"


def _refuse(file: str, key: str, problem: str, got: Any, fix: str) -> ConfigError:
    shown = json.dumps(got) if not isinstance(got, str) or len(got) < 80 else json.dumps(got[:77] + "...")
    return ConfigError([f"{file}: {key}: {problem} (got {shown}). Fix: {fix}"])


def _reject_constant(value: str) -> Any:
    raise ValueError(f"{value} is not a number JSON allows")


def read_json(path: Path, label: str) -> dict[str, Any]:
    """A JSON object from ``path``; one-line ConfigError for a missing file, bad encoding, syntax or NaN."""
    name = path.name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError([f"{name}: {label} does not exist ({path}). Fix: give the downloaded file"]) from exc
    except IsADirectoryError as exc:
        raise ConfigError([f"{name}: {label} is a directory ({path}). Fix: name the file inside it"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{name}: {label} is not UTF-8 text. Fix: give the JSON file itself"]) from exc
    except OSError as exc:
        raise ConfigError([f"{name}: cannot read {label} ({exc.strerror or exc}). Fix: check the path"]) from exc
    return parse_json(text, name, label)


def parse_json(text: str, name: str, label: str) -> dict[str, Any]:
    """A JSON object from ``text`` (the file ``name``); one-line ConfigError for bad syntax, NaN or depth."""
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            [
                f"{name}: {label} is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno}). "
                "Fix: give the JSON file"
            ]
        ) from exc
    except ValueError as exc:
        raise ConfigError([f"{name}: {label} holds {exc}. Fix: give the published file unchanged"]) from exc
    except RecursionError as exc:
        raise ConfigError([f"{name}: {label} nests too deeply. Fix: give the published file unchanged"]) from exc
    if not isinstance(document, dict):
        raise ConfigError(
            [f"{name}: {label} must be a JSON object (got {type(document).__name__}). Fix: give the file"]
        )
    return document


class _Reader:
    """Typed, range-checked access to config.json keys; every error names the key."""

    def __init__(self, file: str, config: Mapping[str, Any]) -> None:
        self.file, self.config = file, config

    def integer(self, key: str, default: int | None = None, minimum: int = 1) -> int:
        value = self.config.get(key, default)
        if key not in self.config and default is None:
            raise _refuse(self.file, key, "is missing", None, f"give config.json as published (it has {key})")
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum or value > 10**9:
            raise _refuse(self.file, key, f"must be an integer >= {minimum}", value, "give config.json as published")
        return value

    def optional_int(self, key: str) -> int | None:
        if self.config.get(key) is None:
            return None
        return self.integer(key)

    def flag(self, key: str, default: bool) -> bool:
        value = self.config.get(key, default)
        if not isinstance(value, bool):
            raise _refuse(self.file, key, "must be true or false", value, "give config.json as published")
        return value


def import_config(
    config: Mapping[str, Any],
    *,
    file: str = "config.json",
    name: str | None = None,
    source: str | None = None,
    index: Mapping[str, Any] | None = None,
    index_file: str = "model.safetensors.index.json",
) -> ImportedModel:
    """The catalog entry of ``config``; ConfigError (one line naming the key) when it cannot be computed."""
    r = _Reader(file, config)
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or model_type not in SUPPORTED:
        architectures = config.get("architectures")
        raise _refuse(
            file,
            "model_type",
            "is not an architecture the importer can count"
            + (f" (architectures {architectures})" if architectures else ""),
            model_type,
            f"supported: {', '.join(SUPPORTED)}; describe other models with params: in the stack file",
        )
    hidden = r.integer("hidden_size")
    layers = r.integer("num_hidden_layers")
    heads = r.integer("num_attention_heads")
    vocab = r.integer("vocab_size")
    intermediate = r.integer("intermediate_size")
    max_context = r.integer("max_position_embeddings", minimum=256)
    tied = r.flag("tie_word_embeddings", model_type == "gemma2")

    embeddings = vocab * hidden * (1 if tied else 2)
    dense_mlp = 3 * hidden * intermediate
    norms_per_layer = (4 if model_type == "gemma2" else 2) * hidden
    kv_cache_dim: int | None = None
    if model_type in MLA_TYPES:
        kv_heads = r.integer("num_key_value_heads", default=heads)
        q_lora = r.optional_int("q_lora_rank")
        kv_lora = r.integer("kv_lora_rank")
        rope, nope, v_dim = r.integer("qk_rope_head_dim"), r.integer("qk_nope_head_dim"), r.integer("v_head_dim")
        q_out = heads * (nope + rope)
        q = hidden * q_out if q_lora is None else hidden * q_lora + q_lora + q_lora * q_out
        attention = q + hidden * (kv_lora + rope) + kv_lora + kv_lora * heads * (nope + v_dim) + heads * v_dim * hidden
        head_dim = nope + rope
        kv_cache_dim = kv_lora + rope
        expert = 3 * hidden * r.integer("moe_intermediate_size")
        routed, shared = r.integer("n_routed_experts"), r.integer("n_shared_experts", default=0, minimum=0)
        per_token = r.integer("num_experts_per_tok")
        dense_layers = r.integer("first_k_dense_replace", default=0, minimum=0)
        if r.integer("moe_layer_freq", default=1) != 1:
            raise _refuse(
                file,
                "moe_layer_freq",
                "must be 1 (every layer after the dense ones is MoE)",
                config.get("moe_layer_freq"),
                "describe this model with params: in the stack file",
            )
        if dense_layers > layers or per_token > routed:
            key = "first_k_dense_replace" if dense_layers > layers else "num_experts_per_tok"
            raise _refuse(
                file,
                key,
                "exceeds the layers or experts it selects from",
                config.get(key),
                "give config.json as published",
            )
        moe_layers = layers - dense_layers
        # Router weight per routed expert; DeepSeek-V3 adds a score-correction bias per expert (noaux_tc).
        router = hidden * routed + (routed if model_type == "deepseek_v3" else 0)
        mlp_total = dense_layers * dense_mlp + moe_layers * ((routed + shared) * expert + router)
        unrouted = moe_layers * (routed - per_token) * expert
        norms = layers * norms_per_layer + hidden
    else:
        kv_heads = r.integer("num_key_value_heads", default=heads)
        head_dim = r.integer("head_dim") if config.get("head_dim") is not None else hidden // heads
        if heads % kv_heads:
            raise _refuse(
                file,
                "num_key_value_heads",
                f"must divide num_attention_heads ({heads})",
                kv_heads,
                "give config.json as published",
            )
        q_dim, kv_dim = heads * head_dim, kv_heads * head_dim
        attention = hidden * q_dim + 2 * hidden * kv_dim + q_dim * hidden
        if model_type == "qwen2":
            attention += q_dim + 2 * kv_dim
        elif r.flag("attention_bias", False):
            attention += q_dim + 2 * kv_dim + hidden
        if model_type == "mixtral":
            experts, per_token = r.integer("num_local_experts"), r.integer("num_experts_per_tok")
            if per_token > experts:
                raise _refuse(
                    file,
                    "num_experts_per_tok",
                    f"exceeds num_local_experts ({experts})",
                    per_token,
                    "give config.json as published",
                )
            mlp_total = layers * (experts * dense_mlp + hidden * experts)
            unrouted = layers * (experts - per_token) * dense_mlp
        else:
            mlp_total, unrouted = layers * dense_mlp, 0
        norms = layers * norms_per_layer + hidden
    parameters = embeddings + layers * attention + mlp_total + norms
    active = parameters - unrouted
    kv_bytes = layers * (kv_cache_dim or 2 * kv_heads * head_dim) * 2

    precision = _precision(file, config)
    catalog_key = name if name is not None else _default_key(config)
    if catalog_key is None or not CATALOG_KEY.match(catalog_key):
        problem = "is required: config.json has no _name_or_path" if catalog_key is None else "is not a catalog key"
        raise ConfigError(
            [
                f"--name: {problem}"
                f" (got {json.dumps(catalog_key)}; allowed: lowercase letters, digits, '.', '-', at most 63). "
                "Fix: --name llama-3.1-8b-instruct"
            ]
        )
    repo = source if source is not None else _default_source(config)
    if repo is not None and not REPO_ID.match(repo):
        raise ConfigError(
            [f"--source: is not a Hugging Face repository id (got {json.dumps(repo)}). Fix: --source org/model"]
        )
    index_bytes = _index_bytes(index, index_file, parameters, precision) if index is not None else None
    return ImportedModel(
        catalog_key,
        repo,
        model_type,
        parameters,
        active,
        layers,
        heads,
        kv_heads,
        head_dim,
        kv_cache_dim,
        kv_bytes,
        max_context,
        precision,
        index_bytes,
        str(config.get("torch_dtype", config.get("dtype", "bfloat16"))),
    )


def _precision(file: str, config: Mapping[str, Any]) -> str:
    """Serving precision: a pre-quantized checkpoint's (``quantization_config``), else ``torch_dtype``."""
    quant = config.get("quantization_config")
    if quant is not None:
        method = quant.get("quant_method") if isinstance(quant, Mapping) else None
        bits = quant.get("bits") if isinstance(quant, Mapping) else None
        if method == "fp8":
            return "fp8"
        if method in ("awq", "gptq") and bits in (4, 8):
            return "int4" if bits == 4 else "int8"
        if method == "compressed-tensors":
            # llm-compressor checkpoints (e.g. RedHatAI's): the weights' num_bits and type in each config group
            groups = quant.get("config_groups") if isinstance(quant, Mapping) else None
            weights = (
                [g.get("weights") for g in groups.values() if isinstance(g, Mapping)]
                if isinstance(groups, Mapping)
                else []
            )
            kinds = {
                (w.get("num_bits") if isinstance(w.get("num_bits"), int) else None, str(w.get("type")))
                for w in weights
                if isinstance(w, Mapping)
            }
            if kinds == {(8, "float")}:
                return "fp8"
            if kinds == {(4, "int")}:
                return "int4"
            if kinds == {(8, "int")}:
                return "int8"
            raise _refuse(
                file,
                "quantization_config.config_groups",
                "has weights the catalog does not describe",
                sorted(kinds, key=str),
                "fp8 (8-bit float), int8 or int4 weights in every group",
            )
        raise _refuse(
            file,
            "quantization_config.quant_method",
            "is not a quantization the catalog describes",
            method,
            "fp8, awq/gptq with bits 4 or 8, compressed-tensors; or import the 16-bit checkpoint's config.json",
        )
    dtype = config.get("torch_dtype", config.get("dtype", "bfloat16"))
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise _refuse(
            file, "torch_dtype", "is not a dtype vLLM serves from this checkpoint", dtype, f"one of {', '.join(DTYPES)}"
        )
    return DTYPES[str(dtype)]


def _default_key(config: Mapping[str, Any]) -> str | None:
    path = config.get("_name_or_path")
    if not isinstance(path, str) or not path.strip("/"):
        return None
    return path.rstrip("/").rsplit("/", 1)[-1].lower()


def _default_source(config: Mapping[str, Any]) -> str | None:
    path = config.get("_name_or_path")
    return path if isinstance(path, str) and REPO_ID.match(path) else None


def _index_bytes(index: Mapping[str, Any], file: str, parameters: int, precision: str) -> int:
    metadata = index.get("metadata")
    total = metadata.get("total_size") if isinstance(metadata, Mapping) else None
    if isinstance(total, bool) or not isinstance(total, (int, float)) or not math.isfinite(total) or total <= 0:
        raise _refuse(
            file,
            "metadata.total_size",
            "must be a positive number of bytes",
            total,
            "give model.safetensors.index.json as published",
        )
    from_index = total / BYTES[precision]
    if abs(from_index - parameters) / parameters > INDEX_TOLERANCE:
        raise _refuse(
            file,
            "metadata.total_size",
            f"gives {from_index / 1e9:.2f}B parameters at {precision}, but config.json's architecture has "
            f"{parameters / 1e9:.2f}B (more than {INDEX_TOLERANCE:.0%} apart: not the same model)",
            int(total),
            "give the index and config.json of the same checkpoint",
        )
    return int(total)


def params_from_config_json(text: str, file: str = "config.json") -> dict[str, Any]:
    """``models.<name>.params`` of a stack file for the model whose config.json is ``text`` (the self-service
    page's upload), with the imported ``key`` and, where config.json names it, the Hugging Face ``source``."""
    model = import_config(parse_json(text, file, "config.json"), file=file)
    params = model.entry()
    params.pop("sources")
    params.pop("gated")
    return {"key": model.key, "source": model.source, "params": params}
