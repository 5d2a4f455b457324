"""Configuration layer: the root model accepts the shipped stacks and reports every mistake precisely."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
import yaml

from components._common import ConfigError
from stacks import plan as plan_module
from stacks import program
from stacks.__main__ import main
from stacks.config import PlatformConfig, load_config
from stacks.plan import ROOT, read_stack_file
from tests.helpers import SOURCE, changed, cli_map, config_errors


def base() -> dict[str, Any]:
    return {
        "environment": "dev",
        "owner": "ml-platform",
        "costCenter": "cc-1",
        "location": "westeurope",
        "clusters": {
            "weu1": {
                "location": "westeurope",
                "kubernetesVersion": "1.34",
                "apiServer": {"private": True},
                "gpuPools": {
                    "a100": {
                        "active": "blue",
                        "slots": {"blue": {"vmSize": "Standard_NC24ads_A100_v4", "maxCount": 2}},
                    }
                },
            }
        },
    }


def with_change(path: str, value: Any) -> dict[str, Any]:
    return changed(base(), path, value)


def test_valid_config_loads_with_secure_defaults() -> None:
    cfg = load_config(cli_map(base()), SOURCE)
    cluster = cfg.clusters["weu1"]
    assert cluster.api_server.private is True
    assert cluster.security.local_accounts is False
    assert cluster.security.encryption_at_host is True
    assert cluster.tier == "Standard"
    assert cluster.upgrade.channel == "patch"
    assert cluster.gpu_pools["a100"].allocation == "dra"
    assert cfg.base_tags()["cost-center"] == "cc-1"


def test_every_shipped_stack_file_validates() -> None:
    for stack in ("dev", "staging", "prod"):
        stack_file = read_stack_file(stack)
        cfg = load_config(stack_file.config_map, stack_file.source)
        assert cfg.environment == stack


CASES = [
    (
        "clusters.weu1.kubernetesVersion",
        "1.33",
        "Pulumi.test.yaml: ai-platform:clusters.weu1.kubernetesVersion: must be 1.34 or newer (got '1.33'; "
        'allowed: 1.34 or newer). Fix: set kubernetesVersion: "1.34"',
    ),
    ("clusters.weu1.kubernetesVersion", 1.34, "ai-platform:clusters.weu1.kubernetesVersion: must be a string"),
    ("clusters.weu1.kubernetesVersion", "1.34.2", "ai-platform:clusters.weu1.kubernetesVersion: has the wrong format"),
    ("environment", "qa", "ai-platform:environment: is not an allowed value (got 'qa'; allowed: 'dev', 'staging'"),
    ("owner", ..., "ai-platform:owner: is required"),
    ("clusters.weu1.gpuPool", {}, "ai-platform:clusters.weu1.gpuPool: unknown key"),
    (
        "clusters.weu1.gpuPools.a100.active",
        "green",
        "ai-platform:clusters.weu1.gpuPools.a100.active: names a slot that does not exist (the active slot cannot "
        "be removed) (got 'green'; allowed: blue)",
    ),
    (
        "clusters.weu1.gpuPools.a100.slots",
        {},
        "ai-platform:clusters.weu1.gpuPools.a100.slots: needs at least one slot",
    ),
    (
        "clusters.weu1.gpuPools.a100.slots.blue.migProfile",
        "MIG9g",
        "ai-platform:clusters.weu1.gpuPools.a100.slots.blue.migProfile: is not an allowed value",
    ),
    (
        "clusters.weu1.gpuPools.a100.slots.blue.minCount",
        5,
        "ai-platform:clusters.weu1.gpuPools.a100.slots.blue.minCount: must not exceed maxCount (got 5",
    ),
    (
        "clusters.weu1.gpuPools.a100.slots.blue.vmSize",
        "Standard_D4s_v5",
        "ai-platform:clusters.weu1.gpuPools.a100.slots.blue.vmSize: is not a GPU VM size this blueprint knows",
    ),
    (
        "clusters.weu1.gpuPools.a100.slots.blue.snapshotId",
        "snap-1",
        "ai-platform:clusters.weu1.gpuPools.a100.slots.blue.snapshotId: is not a node-pool snapshot resource id",
    ),
    (
        "clusters.weu1.gpuPools.a100.slots.blue.kubernetesVersion",
        "1.35",
        "ai-platform:clusters.weu1.gpuPools.a100.slots.blue.kubernetesVersion: may not be newer than the control "
        "plane (got '1.35'; allowed: <= 1.34)",
    ),
    ("clusters.weu1.network.podCidr", "10.10.0.0/17", "ai-platform:clusters.weu1.network.podCidr: overlaps vnetCidr"),
    (
        "clusters.weu1.network.dnsServiceIp",
        "10.0.0.10",
        "ai-platform:clusters.weu1.network.dnsServiceIp: must lie inside serviceCidr",
    ),
    (
        "clusters.weu1.apiServer",
        {"private": False},
        "ai-platform:clusters.weu1.apiServer.authorizedIpRanges: is required when private is false",
    ),
    (
        "clusters.weu1.apiServer",
        {"private": False, "authorizedIpRanges": ["0.0.0.0/0"]},
        "ai-platform:clusters.weu1.apiServer.authorizedIpRanges.0: opens the API server to the whole internet",
    ),
    ("clusters.weu1.tier", "Gold", "ai-platform:clusters.weu1.tier: is not an allowed value (got 'Gold'"),
    ("tags", {"owner": "x"}, "ai-platform:tags.owner: is set by the blueprint"),
]


@pytest.mark.parametrize(("path", "value", "expected"), CASES, ids=[c[0] + "=" + repr(c[1])[:20] for c in CASES])
def test_invalid_value_is_reported_at_its_key(path: str, value: Any, expected: str) -> None:
    lines = config_errors(with_change(path, value))
    assert any(expected in line for line in lines), lines
    assert all(line.startswith("Pulumi.test.yaml: ai-platform:") for line in lines)


def test_mig_on_a_gpu_without_mig_names_the_key_and_the_fix() -> None:
    values = with_change("clusters.weu1.gpuPools.a100.slots.blue.vmSize", "Standard_NC8as_T4_v3")
    values["clusters"]["weu1"]["gpuPools"]["a100"]["slots"]["blue"]["migProfile"] = "MIG1g"
    (line,) = config_errors(values)
    assert "slots.blue.migProfile: T4 GPUs (Standard_NC8as_T4_v3) do not support MIG" in line
    assert "Fix: remove migProfile" in line


def test_pool_group_key_that_cannot_fit_the_colour_suffix() -> None:
    values = base()
    values["clusters"]["weu1"]["gpuPools"]["a100large"] = values["clusters"]["weu1"]["gpuPools"].pop("a100")
    (line,) = config_errors(values)
    assert "ai-platform:clusters.weu1.gpuPools.a100large: pool group key must be 1-7" in line


def test_unknown_key_lists_the_allowed_keys() -> None:
    (line,) = config_errors(with_change("clusters.weu1.gpuPools.a100.slots.blue.vmsize", "x"))
    assert "unknown key" in line
    assert "allowed: vmSize, minCount, maxCount" in line


def test_several_mistakes_are_reported_together() -> None:
    values = with_change("clusters.weu1.kubernetesVersion", "1.30")
    values["environment"] = "qa"
    values["clusters"]["weu1"]["network"] = {"podCidr": "10.10.0.0/24"}
    lines = config_errors(values)
    assert len(lines) >= 3
    joined = "\n".join(lines)
    assert "environment" in joined
    assert "kubernetesVersion" in joined
    assert "podCidr" in joined


def test_cluster_id_must_fit_azure_names() -> None:
    values = base()
    values["clusters"]["West-EU"] = values["clusters"].pop("weu1")
    (line,) = config_errors(values)
    assert "ai-platform:clusters.West-EU: cluster id must be 1-10 lowercase letters/digits" in line


def test_keys_outside_the_namespace_are_ignored() -> None:
    config_map = {**cli_map(base()), "azure-native:location": "westeurope"}
    assert load_config(config_map, SOURCE).location == "westeurope"


def test_config_error_registers_nothing(tmp_path, monkeypatch) -> None:
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config:\n  ai-platform:environment: qa\n")

    def must_not_run(*_: Any) -> None:
        raise AssertionError("the composition ran despite a configuration error")

    monkeypatch.setattr(plan_module, "build_platform", must_not_run)
    with pytest.raises(ConfigError) as caught:
        plan_module.run_plan("bad", bad)
    assert any("ai-platform:environment" in line for line in caught.value.lines)


def test_cli_reports_config_errors_on_stderr_with_exit_2(tmp_path, capsys) -> None:
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text(
        "config:\n  ai-platform:environment: dev\n  ai-platform:owner: a\n  ai-platform:costCenter: b\n"
        "  ai-platform:location: westeurope\n  ai-platform:clusters:\n    weu1:\n      location: westeurope\n"
        "      kubernetesVersion: '1.31'\n"
    )
    assert main(["plan", "bad", "--config-file", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Pulumi.bad.yaml: ai-platform:clusters.weu1.kubernetesVersion: must be 1.34 or newer" in captured.err
    assert "Traceback" not in captured.err


def test_pulumi_up_gets_a_clean_run_error(monkeypatch) -> None:
    monkeypatch.setattr(program, "current_config_map", lambda: cli_map(with_change("environment", "qa")))
    monkeypatch.setattr(pulumi, "get_stack", lambda: "dev")
    with pytest.raises(pulumi.RunError) as caught:
        program.main()
    assert "Pulumi.dev.yaml: ai-platform:environment: is not an allowed value" in str(caught.value)


def test_project_file_declares_only_types_pulumi_accepts() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "ai-platform"
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    for key, declaration in project["config"].items():
        assert declaration["type"] in {"string", "integer", "boolean", "array"}, key
        assert declaration["description"], key
    # Every declared key is a field of the root model, with the same default.
    fields = {f.alias or n: f for n, f in PlatformConfig.model_fields.items()}
    for key, declaration in project["config"].items():
        assert key in fields, key
        if "default" in declaration:
            assert fields[key].default == declaration["default"], key
