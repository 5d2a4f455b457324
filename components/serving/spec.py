"""Configuration of model deployments (``models.<name>`` in stack config) and the model catalog."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, model_validator

from components._common import Issue, Spec, raise_issues
from components.images import IMAGES
from components.serving.runtimes.kaito import KAITO_VERSION, PRESETS

CATALOG_FILE = Path(__file__).resolve().parent.parent / "data" / "models.yaml"

VLLM_IMAGE = IMAGES["vllm"].ref
"""The vLLM OpenAI-compatible server image, pinned by digest (components/images.py)."""

Precision = Literal["bf16", "fp16", "fp8", "int8", "int4"]
Runtime = Literal["vllm", "kaito", "kuberay"]
"""Who serves a model (components/serving/runtimes/): a vLLM Deployment with DRA claims (``vllm``), a KAITO
Workspace through the AKS AI toolchain operator add-on (``kaito``), or a KubeRay RayService running Ray Serve LLM
across the nodes of one pool (``kuberay``, tensor x pipeline parallel)."""
WEIGHT_BYTES: dict[str, float] = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
"""Bytes per parameter of the weights at each precision."""
KV_BYTES: dict[str, float] = {"auto": 2.0, "fp8": 1.0}
"""Bytes per KV-cache element: ``auto`` keeps the activation dtype (16-bit), ``fp8`` halves it."""
MODEL_NAME = r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$"
SECRET_KEY = r"^[A-Za-z][A-Za-z0-9]{0,63}$"
DEFAULT_HF_TOKEN_KEY = "huggingFaceToken"
"""The key in the ``ai-platform-secrets`` config namespace that holds the Hugging Face token by default."""
SIXTEEN_BIT = ("bf16", "fp16")
PINNED_IMAGE = re.compile(r"^[^\s:@]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$")


class ModelParams(Spec):
    """Architecture facts of a model that is not in the catalog (copy them from its config.json)."""

    parameters_billions: Annotated[float, Field(gt=0, le=2000)]
    layers: Annotated[int, Field(ge=1, le=1000)]
    attention_heads: Annotated[int, Field(ge=1, le=1024)]
    kv_heads: Annotated[int, Field(ge=1, le=1024)]
    head_dim: Annotated[int, Field(ge=1, le=1024)]
    max_context: Annotated[int, Field(ge=256, le=10_000_000)]
    default_precision: Precision = "bf16"
    active_parameters_billions: Annotated[float | None, Field(gt=0, le=2000)] = None
    """Parameters a decoded token reads (mixture of experts: all but the unrouted experts); default: all of them.
    The decode-rate estimate streams these weights per step; the fit still holds every expert in memory."""
    kv_cache_dim: Annotated[int | None, Field(ge=1, le=1_000_000)] = None
    """KV-cache elements per token per layer when it is not ``2 x kvHeads x headDim``: multi-head latent attention
    caches one compressed latent (``kv_lora_rank + qk_rope_head_dim``), which tensor parallelism does not split."""

    @model_validator(mode="after")
    def _check(self) -> ModelParams:
        issues: list[Issue] = []
        if self.attention_heads % self.kv_heads:
            issues.append(
                Issue(
                    ("kvHeads",),
                    "must divide attentionHeads (grouped-query attention)",
                    self.kv_heads,
                    f"a divisor of {self.attention_heads}",
                    "copy num_key_value_heads from config.json",
                )
            )
        if self.active_parameters_billions is not None and self.active_parameters_billions > self.parameters_billions:
            issues.append(
                Issue(
                    ("activeParametersBillions",),
                    "exceeds parametersBillions (active parameters are a subset of all parameters)",
                    self.active_parameters_billions,
                    f"<= {self.parameters_billions}",
                    "give the parameters one token reads, or leave it out for a dense model",
                )
            )
        raise_issues(issues)
        return self


@dataclass(frozen=True)
class ModelArch:
    """One model's facts, from the catalog or from explicit ``params``."""

    key: str
    source: str | None
    """The checkpoint in ``default_precision`` (the publisher's own)."""
    parameters_billions: float
    layers: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    max_context: int
    default_precision: str
    gated: bool = False
    sources: dict[str, str] = field(default_factory=dict)
    """Checkpoint per stored precision: the publisher's and pre-quantized copies (``sources`` in the catalog)."""
    active_parameters_billions: float | None = None
    """Parameters read per decoded token (``ModelParams.active_parameters_billions``); None: all of them."""
    kv_cache_dim: int | None = None
    """Latent KV-cache width per layer (multi-head latent attention); None: ``2 x kv_heads x head_dim``."""

    @property
    def kv_elements_per_token(self) -> int:
        """KV-cache elements one token occupies across all layers."""
        return self.layers * (self.kv_cache_dim or 2 * self.kv_heads * self.head_dim)

    @property
    def active_billions(self) -> float:
        return self.active_parameters_billions or self.parameters_billions

    def kv_share_per_gpu(self, tp: int) -> float:
        """The fraction of a replica's KV cache one of its ``tp`` GPUs holds.

        vLLM splits KV heads across tensor-parallel ranks and replicates them when there are fewer heads than
        ranks; a multi-head-latent cache is one latent per token that every rank keeps whole.
        """
        if self.kv_cache_dim is not None:
            return 1.0
        return max(self.kv_heads / tp, 1.0) / self.kv_heads


@dataclass(frozen=True)
class Checkpoint:
    """What a model server downloads and how it gets to its serving precision."""

    repo: str
    stored_precision: str
    """The precision the checkpoint is stored in: its download size is parameters x these bytes."""
    online_quantization: bool
    """True when vLLM must quantize a 16-bit checkpoint at load time (``--quantization fp8``)."""


@functools.cache
def catalog() -> dict[str, ModelArch]:
    """The shipped model catalog (``components/data/models.yaml``), validated through :class:`ModelParams`."""
    document: dict[str, Any] = yaml.safe_load(CATALOG_FILE.read_text())
    models: dict[str, ModelArch] = {}
    for key, raw in document["models"].items():
        entry = dict(raw)
        sources, gated = dict(entry.pop("sources")), bool(entry.pop("gated", False))
        params = ModelParams.model_validate(entry)
        models[key] = _arch(key, sources.get(params.default_precision), params, gated, sources)
    return models


def _arch(
    key: str, source: str | None, params: ModelParams, gated: bool = False, sources: dict[str, str] | None = None
) -> ModelArch:
    return ModelArch(
        key,
        source,
        params.parameters_billions,
        params.layers,
        params.attention_heads,
        params.kv_heads,
        params.head_dim,
        params.max_context,
        params.default_precision,
        gated,
        dict(sources or ({params.default_precision: source} if source else {})),
        params.active_parameters_billions,
        params.kv_cache_dim,
    )


class ModelDeploymentSpec(Spec):
    """``models.<name>``: one team's model served by vLLM on the stack's GPUs."""

    team: Annotated[str, Field(min_length=1, max_length=63)]
    """The team (``teams.<team>``) whose namespace runs the model."""
    cluster: str
    runtime: Runtime = "vllm"
    """``vllm`` (default), ``kaito`` or ``kuberay`` (docs/model-serving.md, one section each)."""
    model: str | None = None
    """A catalog key (components/data/models.yaml); or leave it out and give ``params``."""
    params: ModelParams | None = None
    source: str | None = None
    """Hugging Face repository (or path) vLLM loads; defaults to the catalog's checkpoint for the precision.
    Required for a precision the catalog has no checkpoint for (int8/int4) and for models given by ``params``."""
    source_precision: Precision | None = None
    """The precision ``source`` is stored in (sizes the download); defaults to ``precision``. ``bf16`` with
    ``precision: fp8`` quantizes that 16-bit checkpoint at load time (it must fit the GPU in 16 bits)."""
    precision: Precision | None = None
    """Weight precision; defaults to the model's. Served from a pre-quantized checkpoint (catalog ``sources``)."""
    kv_cache_dtype: Literal["auto", "fp8"] = "auto"
    replicas: Annotated[int, Field(ge=1, le=64)] = 1
    context_length: Annotated[int, Field(ge=256, le=10_000_000)] = 8192
    """Longest sequence (prompt + output) per request: vLLM ``--max-model-len``."""
    concurrency: Annotated[int, Field(ge=1, le=4096)] = 8
    """Sequences served at once per replica with a full context each: vLLM ``--max-num-seqs``."""
    gpu_memory_utilization: Annotated[float, Field(ge=0.5, le=0.95)] = 0.90
    image: str = VLLM_IMAGE
    pool: str | None = None
    """Pin a GPU pool group of the cluster; default: the cheapest that fits."""
    profile: str | None = None
    """Pin a sharing profile (``components.dra.offers_for``); default: the cheapest that fits."""
    hf_token: Annotated[str | None, Field(pattern=SECRET_KEY)] = None
    """Key in the ``ai-platform-secrets`` namespace holding a Hugging Face token (``pulumi config set --secret
    ai-platform-secrets:<key> <token>``). Gated catalog models use ``huggingFaceToken`` unless set; set it for
    a private ``source``. The program copies it into a Secret in the team namespace."""

    @model_validator(mode="after")
    def _check(self) -> ModelDeploymentSpec:
        issues: list[Issue] = []
        if (self.model is None) == (self.params is None):
            issues.append(
                Issue(
                    ("model",),
                    "give exactly one of model (a catalog key) or params",
                    self.model,
                    ", ".join(sorted(catalog())),
                    "set model: <catalog key>, or params: {...} and source",
                )
            )
        elif self.model is not None and self.model not in catalog():
            issues.append(
                Issue(
                    ("model",),
                    "is not in the model catalog",
                    self.model,
                    ", ".join(sorted(catalog())),
                    "pick a catalog model or describe it with params (from its config.json)",
                )
            )
        if self.params is not None and not self.source:
            issues.append(
                Issue(
                    ("source",),
                    "is required with params (what vLLM should load)",
                    None,
                    "a Hugging Face repository id, e.g. org/model",
                    "add source",
                )
            )
        arch = self.arch
        if (
            self.precision in ("int8", "int4")
            and not self.source
            and self.precision not in (arch.sources if arch else {})
        ):
            issues.append(
                Issue(
                    ("source",),
                    f"{self.precision} needs a pre-quantized checkpoint (AWQ, GPTQ or "
                    "compressed-tensors); vLLM cannot quantize to it at load time",
                    None,
                    "a quantized repository id",
                    "set source to the quantized checkpoint"
                    + (f" (the catalog has {', '.join(sorted(arch.sources))})" if arch and arch.sources else ""),
                )
            )
        if self.source_precision is not None and not self.source:
            issues.append(
                Issue(
                    ("sourcePrecision",),
                    "describes source, which is not set",
                    self.source_precision,
                    "only together with source",
                    "add source or remove sourcePrecision",
                )
            )
        if (
            not PINNED_IMAGE.match(self.image)
            or self.image.endswith(":latest")
            or (":" not in self.image.rsplit("/", 1)[-1] and "@" not in self.image)
        ):
            issues.append(
                Issue(
                    ("image",),
                    "must be pinned to a version tag or digest",
                    self.image,
                    "repo:tag (not latest) or repo@sha256:<digest>",
                    f"e.g. {VLLM_IMAGE}",
                )
            )
        issues.extend(_runtime_issues(self))
        if arch is not None and self.context_length > arch.max_context:
            issues.append(
                Issue(
                    ("contextLength",),
                    "exceeds the model's maximum context",
                    self.context_length,
                    f"<= {arch.max_context}",
                    "lower contextLength",
                )
            )
        raise_issues(issues)
        return self

    @property
    def arch(self) -> ModelArch | None:
        if self.params is not None:
            return _arch("custom", self.source, self.params)
        return catalog().get(self.model or "")

    @property
    def effective_precision(self) -> str:
        arch = self.arch
        return self.precision or (arch.default_precision if arch else "bf16")

    @property
    def checkpoint(self) -> Checkpoint:
        """The checkpoint downloaded: ``source`` as given, else the catalog's for the precision, else (fp8 only)
        the 16-bit checkpoint quantized at load time."""
        precision = self.effective_precision
        if self.source:
            stored = self.source_precision or precision
            return Checkpoint(self.source, stored, stored in SIXTEEN_BIT and precision not in SIXTEEN_BIT)
        arch = self.arch
        sources = arch.sources if arch else {}
        if precision in sources:
            return Checkpoint(sources[precision], precision, False)
        sixteen = next((p for p in (arch.default_precision if arch else "bf16", *SIXTEEN_BIT) if p in sources), None)
        if sixteen is None:
            return Checkpoint("", precision, False)
        # fp16 served from a bf16 checkpoint (or back) is a cast; fp8 from 16 bits is load-time quantization.
        return Checkpoint(sources[sixteen], sixteen, precision not in SIXTEEN_BIT)

    @property
    def effective_source(self) -> str:
        return self.checkpoint.repo

    @property
    def gated(self) -> bool:
        """A gated catalog model (its pre-quantized copies carry the same licence)."""
        arch = self.arch
        return bool(self.params is None and arch is not None and arch.gated)

    @property
    def token_key(self) -> str | None:
        """The ``ai-platform-secrets`` key this deployment's Hugging Face token comes from, if it needs one."""
        return self.hf_token or (DEFAULT_HF_TOKEN_KEY if self.gated else None)


def _runtime_issues(spec: ModelDeploymentSpec) -> list[Issue]:
    """What a runtime cannot serve, whatever the pool: KAITO serves its own presets only (the publisher's
    checkpoint, in its own image), so a quantized precision, another source or image cannot reach it."""
    if spec.runtime != "kaito":
        return []
    issues: list[Issue] = []
    if spec.model is None or spec.model not in PRESETS:
        issues.append(
            Issue(
                ("runtime",),
                f"kaito serves only catalog models with a KAITO {KAITO_VERSION} preset",
                spec.model or "params",
                ", ".join(sorted(PRESETS)),
                "pick one of those models, or use runtime: vllm",
            )
        )
        return issues
    arch = spec.arch
    default = arch.default_precision if arch else "bf16"
    if spec.precision not in (None, default):
        issues.append(
            Issue(
                ("precision",),
                f"kaito presets serve the publisher's {default} checkpoint",
                spec.precision,
                default,
                "remove precision, or use runtime: vllm for a quantized checkpoint",
            )
        )
    if spec.profile is not None:
        issues.append(
            Issue(
                ("profile",),
                "names a DRA sharing profile, but KAITO takes whole nodes' GPUs from the device plugin",
                spec.profile,
                "leave it out with runtime: kaito (pin a device-plugin pool group with pool)",
                "remove profile, or use runtime: vllm or kuberay",
            )
        )
    for key, value, default_value in (
        ("source", spec.source, None),
        ("image", spec.image, VLLM_IMAGE),
        ("kvCacheDtype", spec.kv_cache_dtype, "auto"),
    ):
        if value != default_value:
            issues.append(
                Issue(
                    (key,),
                    "is set by the KAITO preset (its own image and checkpoint)",
                    value,
                    "leave it out with runtime: kaito",
                    f"remove {key}, or use runtime: vllm",
                )
            )
    return issues
