"""Helpers shared by the configuration tests: stack values as the CLI passes them, and edited copies."""

from __future__ import annotations

import contextlib
import copy
import json
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from components._common import ConfigError
from stacks.config import PlatformConfig, load_config

SOURCE = "Pulumi.test.yaml"
DELETE = ...
"""Pass as the value to :func:`changed` to delete the key."""


def cli_map(values: dict[str, Any]) -> dict[str, str]:
    """``ai-platform`` values the way the Pulumi CLI hands them to a program: structured values as JSON."""
    return {f"ai-platform:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


def load(values: dict[str, Any]) -> PlatformConfig:
    return load_config(cli_map(values), SOURCE)


def config_errors(values: dict[str, Any]) -> list[str]:
    """The error lines ``values`` produce (the test fails if they load)."""
    with pytest.raises(ConfigError) as caught:
        load(values)
    return caught.value.lines


def changed(values: dict[str, Any], path: str | Sequence[str], value: Any) -> dict[str, Any]:
    """A deep copy of ``values`` with the dotted (or listed) ``path`` set to ``value`` (``DELETE`` removes it)."""
    result = copy.deepcopy(values)
    *parents, last = path.split(".") if isinstance(path, str) else list(path)
    node = result
    for part in parents:
        node = node.setdefault(part, {})
    if value is DELETE:
        node.pop(last, None)
    else:
        node[last] = value
    return result


@contextlib.contextmanager
def recording_monitors(patch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Collect every recording monitor the offline plan creates while the block runs (what got registered)."""
    from stacks import plan as plan_module  # noqa: PLC0415 - imported when used, like the plan itself

    monitors: list[Any] = []

    class Capturing(plan_module._RecordingMonitor):
        def __init__(self, mocks: Any) -> None:
            super().__init__(mocks)
            monitors.append(self)

    patch.setattr(plan_module, "_RecordingMonitor", Capturing)
    yield monitors


def project_repo(target: Path, skip: tuple[str, ...] = ("tests/", "benchmarks/", ".github/", "docs/")) -> Path:
    """A throwaway git repository holding this project's tracked files (minus ``skip``), one commit on ``main``."""
    root = Path(__file__).resolve().parent.parent
    tracked = subprocess.run(["git", "-C", str(root), "ls-files"], check=True, capture_output=True, text=True).stdout
    for name in tracked.split():
        if name.startswith(skip) or not (root / name).is_file():
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target / name)
    git(target.parent, "init", "-q", "-b", "main", str(target))
    git(target, "add", "-A")
    git(target, "commit", "-qm", "base")
    return target


def git(repo: Path, *args: str) -> str:
    """``git -C repo args`` with a fixed identity; its stdout."""
    identity = ["-c", "user.email=tests@example.com", "-c", "user.name=tests"]
    return subprocess.run(["git", "-C", str(repo), *identity, *args], check=True, capture_output=True, text=True).stdout
