"""The Pulumi program: read the stack configuration, validate it, compose the platform.

``__main__.py`` calls :func:`main` under the real engine; the offline plan calls :func:`build` under the
mock runtime. Both go through the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from components._common import ConfigError
from stacks.config import PlatformConfig, load_config
from stacks.platform import Platform, build_platform, export


def current_config_map() -> dict[str, Any]:
    """The configuration the engine handed this program (``PULUMI_CONFIG``), plus anything set in-process."""
    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def build(config_map: Mapping[str, Any], source: str) -> Platform:
    cfg: PlatformConfig = load_config(config_map, source)
    return build_platform(cfg)


def main() -> None:
    source = f"Pulumi.{pulumi.get_stack()}.yaml"
    try:
        platform = build(current_config_map(), source)
    except ConfigError as exc:
        # RunError is reported by the engine as a clean message, without a Python traceback.
        raise pulumi.RunError("invalid stack configuration:\n" + "\n".join(exc.lines)) from None
    export(platform)
