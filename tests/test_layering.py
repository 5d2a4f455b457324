"""One-way layering, read from the source: ``stacks/`` -> ``components/`` -> shared helpers, and no cycles.

An AST walk over every module of ``components/``, ``stacks/`` and ``policies/`` collects every import of a
project module (also those under ``if TYPE_CHECKING:`` and inside functions: a type-only import still ties two
modules together). The rules (README "Architecture"):

- no module under ``components/`` imports ``stacks`` or ``policies``; ``policies/`` never imports ``stacks``
  (the pack is served on its own by ``python -m pulumi.policy``);
- inside ``components/`` every unit (a module or a capability package) has a layer, and imports only units of a
  lower layer, or its own package: capabilities never reach into each other for a constant or a builder
  (shared helpers, layer 0, may use each other);
- ``policies/`` imports only the shared layer of ``components/``;
- the module import graph has no cycle;
- every module under ``components/`` opens with a docstring that says what it builds.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("components", "stacks", "policies")

COMPONENT_LAYERS: dict[str, int] = {
    # Shared: facts, the configuration base and naming, SKU and price tables, the Azure catalog, teams.
    "_common": 0,
    "facts": 0,
    "gpu_skus": 0,
    "azure_catalog": 0,
    "pricing": 0,
    "teams": 0,
    # The cluster's parts.
    "gpu_pools": 1,
    "network": 1,
    "access": 1,
    "maintenance": 1,
    "weight_cache": 1,
    # The cluster (composes its parts).
    "cluster": 2,
    # In-cluster and stack-level capabilities, independent of each other.
    "dra": 3,
    "observability": 3,
    "fleet": 3,
    # Model serving places on DRA's sharing offers.
    "serving": 4,
}
"""Every unit of ``components/``; a new module or package must be given its layer here."""


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path) -> dict[str, Path]:
    return {
        module_name(root, path): path
        for package in PACKAGES
        if (root / package).is_dir()
        for path in sorted((root / package).rglob("*.py"))
    }


def imports_of(path: Path, name: str, known: set[str]) -> Iterator[str]:
    """Project modules ``path`` imports (``from a.b import c`` is ``a.b.c`` when that is a module, else ``a.b``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in PACKAGES:
                yield target


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = project_modules(root)
    known = set(modules)
    return {name: set(imports_of(path, name, known)) for name, path in modules.items()}


def unit(module: str) -> str:
    """``components.dra.spec`` -> ``dra``; ``components`` itself -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def violations(root: Path) -> list[str]:
    graph = import_graph(root)
    found: list[str] = []
    for module, targets in sorted(graph.items()):
        top = module.split(".")[0]
        for target in sorted(targets):
            where = target.split(".")[0]
            if top == "components" and where in {"stacks", "policies"}:
                found.append(f"{module} imports {target}: components never import {where}/")
            elif top == "policies" and where == "stacks":
                found.append(f"{module} imports {target}: the policy pack never imports stacks/")
            elif top == "policies" and where == "components" and COMPONENT_LAYERS.get(unit(target), 99) > 0:
                found.append(f"{module} imports {target}: policies import only the shared layer of components/")
            elif top == where == "components" and unit(module) and unit(target) and unit(module) != unit(target):
                here, there = COMPONENT_LAYERS.get(unit(module)), COMPONENT_LAYERS.get(unit(target))
                if here is None or there is None:
                    found.append(f"{module} imports {target}: give every unit of components/ a layer")
                elif there > here or (there == here and here > 0):
                    found.append(f"{module} (layer {here}) imports {target} (layer {there}): import downward only")
    found.extend(f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph))
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected part of the graph that has one (iterative DFS, stable order)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for start in sorted(graph):
        if state.get(start):
            continue
        path: list[str] = []
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        state[start] = 1
        path.append(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif child not in graph or state.get(child) == 2:
                continue
            elif state.get(child) == 1:
                found.append([*path[path.index(child) :], child])
            else:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph[child]))))
    return found


def test_the_project_is_layered_one_way_without_cycles() -> None:
    assert violations(ROOT) == []


def test_every_unit_of_components_has_a_layer() -> None:
    units = {unit(m) for m in project_modules(ROOT) if m.startswith("components.")}
    assert units == set(COMPONENT_LAYERS)


def test_every_component_module_opens_with_what_it_builds() -> None:
    missing = [
        name
        for name, path in project_modules(ROOT).items()
        if name.startswith("components") and not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert missing == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for package in PACKAGES:
        (tmp_path / package).mkdir(exist_ok=True)
        (tmp_path / package / "__init__.py").touch()
    return tmp_path


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"components/dra/spec.py": "import typing\nif typing.TYPE_CHECKING:\n    import stacks.config\n"},
            "components.dra.spec imports stacks.config: components never import stacks/",
        ),
        (
            {"components/fleet/spec.py": "from components.dra import TeamSpec\n", "components/dra/__init__.py": ""},
            "components.fleet.spec (layer 3) imports components.dra (layer 3): import downward only",
        ),
        (
            {"components/gpu_pools.py": "def f():\n    from components.cluster import ClusterSpec\n"},
            "components.gpu_pools (layer 1) imports components.cluster (layer 2): import downward only",
        ),
        (
            {"policies/rules.py": "from components.gpu_pools import LABEL_GROUP\n"},
            "policies.rules imports components.gpu_pools: policies import only the shared layer of components/",
        ),
        (
            {"policies/cli.py": "from stacks.config import load_config\n"},
            "policies.cli imports stacks.config: the policy pack never imports stacks/",
        ),
        (
            {"components/dra/spec.py": "from . import offers\n", "components/dra/offers.py": "from .spec import X\n"},
            "import cycle: components.dra.offers -> components.dra.spec -> components.dra.offers",
        ),
        (
            {"components/widgets.py": "from components.facts import LABEL_GROUP\n"},
            "components.widgets imports components.facts: give every unit of components/ a layer",
        ),
    ],
)
def test_the_checker_catches_each_kind_of_violation(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    assert violations(_tree(tmp_path, files)) == [expected]
