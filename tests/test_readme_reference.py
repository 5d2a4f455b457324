"""The README's configuration reference and the configuration model agree (issue 12).

Every key the reference tables (top level, ``clusters.<id>``, ``clusters.<id>.gpuPools.<group>``) and the
"Slot keys" sentence name must be a field of the model, spelled as the model spells it (``osDiskSizeGb``, not
``osDiskSizeGB``), and every field of those models must be documented there: either by its own key, or by a
documented parent (``maintenance.autoUpgrade`` documents the window's fields, ``dra`` points to docs/dra.md).
"""

from __future__ import annotations

import re
import types
import typing
from typing import Annotated, Any

from pydantic import BaseModel

from components.cluster import ClusterSpec
from components.gpu_pools import GpuPoolGroupSpec, SlotSpec
from stacks.config import PlatformConfig
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
TABLES: dict[str, type[BaseModel]] = {
    "Top-level keys": PlatformConfig,
    "`clusters.<id>`:": ClusterSpec,
    "`clusters.<id>.gpuPools.<group>`": GpuPoolGroupSpec,
}
_TOKEN = re.compile(r"`([^`]+)`")


def reference_section() -> str:
    start = README.index("## Configuration reference")
    return README[start : README.index("\n## ", start + 1)]


def documented_keys() -> dict[type[BaseModel], set[str]]:
    """Dotted keys per model: a table row's first cell (``a.b`` / ``c`` means ``a.b`` and ``a.c``)."""
    keys: dict[type[BaseModel], set[str]] = {model: set() for model in (*TABLES.values(), SlotSpec)}
    model: type[BaseModel] | None = None
    section = reference_section()
    slot_paragraph = section[section.index("Slot keys:") :].split("\n\n", 1)[0]
    keys[SlotSpec] |= set(_top_level_tokens(slot_paragraph.removeprefix("Slot keys:").replace("\n", " ")))
    for line in section.splitlines():
        heading = next((m for title, m in TABLES.items() if line.startswith(title)), None)
        if heading is not None:
            model = heading
            continue
        if model is None or not line.startswith("| `"):
            continue
        cell = line.split("|")[1]
        prefix = ""
        for token in _TOKEN.findall(cell):
            if "." in token:
                prefix = token.rsplit(".", 1)[0] + "."
                keys[model].add(token)
            else:
                keys[model].add(prefix + token)
    return keys


def _top_level_tokens(text: str) -> list[str]:
    """Backticked words outside parentheses (the keys; values and file names sit inside the parentheses)."""
    depth, tokens = 0, []
    for match in re.finditer(r"[()]|`[^`]+`", text):
        piece = match.group(0)
        if piece == "(":
            depth += 1
        elif piece == ")":
            depth -= 1
        elif depth == 0:
            tokens.append(piece.strip("`"))
    return tokens


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            arms = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(arms) != 1:
                return annotation
            annotation = arms[0]
        else:
            return annotation


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    return {(f.alias or n): f.annotation for n, f in model.model_fields.items()}


def resolves(model: type[BaseModel], dotted: str) -> bool:
    """``dotted`` names a field (through nested models; a map's keys are free: ``slots.blue``)."""
    current: Any = model
    for part in dotted.split("."):
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = _fields(current)
            if part not in fields:
                return False
            current = fields[part]
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return False
    return True


def undocumented(model: type[BaseModel], documented: set[str], prefix: str = "") -> list[str]:
    """Fields of ``model`` that neither they nor an ancestor are documented (nested models count by their
    fields: a model is covered when each of its fields is)."""
    missing: list[str] = []
    for key, annotation in _fields(model).items():
        path = prefix + key
        if path in documented:
            continue
        inner = _unwrap(annotation)
        if (
            isinstance(inner, type)
            and issubclass(inner, BaseModel)
            and any(d.startswith(path + ".") for d in documented)
        ):
            missing.extend(undocumented(inner, documented, path + "."))
        else:
            missing.append(path)
    return missing


def test_every_documented_key_is_a_model_field() -> None:
    unknown = [
        (m.__name__, key) for m, keys in documented_keys().items() for key in sorted(keys) if not resolves(m, key)
    ]
    assert unknown == []


def test_every_model_field_is_documented() -> None:
    keys = documented_keys()
    missing = {m.__name__: undocumented(m, documented) for m, documented in keys.items()}
    # The pool groups and slots have their own tables: the cluster table points to them with `gpuPools.<group>`.
    missing["ClusterSpec"] = [k for k in missing["ClusterSpec"] if k != "gpuPools"]
    missing["GpuPoolGroupSpec"] = [k for k in missing["GpuPoolGroupSpec"] if k != "slots"]
    assert missing == {name: [] for name in missing}


def test_the_parser_reads_the_tables() -> None:
    """The walk above is only as good as its parse: spot-check keys from each table and the slot sentence."""
    keys = documented_keys()
    assert {"owner", "costCenter", "clusters", "policy"} <= keys[PlatformConfig]
    assert {"network.vnetCidr", "network.nodeSubnetCidr", "systemPool.osDiskType", "maintenance.nodeOs"} <= keys[
        ClusterSpec
    ]
    assert {"upgrade.drainTimeoutInMinutes", "renamedFrom", "slots.green"} <= keys[GpuPoolGroupSpec]
    assert {"vmSize", "osDiskSizeGb", "snapshotId"} <= keys[SlotSpec]
    assert "Install" not in keys[SlotSpec]
    assert not resolves(SlotSpec, "osDiskSizeGB")
