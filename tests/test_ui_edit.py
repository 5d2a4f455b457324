"""The page's stack-file edit (stacks/ui/stackedit.py) and the what-if fit (stacks/ui/whatif.py), without HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components._common import ConfigError
from components.serving import analyse
from stacks.config import load_config
from stacks.plan import read_stack_file, stack_file_from_text
from stacks.ui.stackedit import existing_entry, masked, set_model, unified_diff
from stacks.ui.whatif import model_entry, what_if

ROOT = Path(__file__).resolve().parent.parent
DEV = (ROOT / "Pulumi.dev.yaml").read_text()
CHAT = {"team": "research", "cluster": "weu1", "model": "llama-3.2-3b-instruct", "precision": "fp8"}


def _config(stack: str):
    stack_file = read_stack_file(stack)
    return load_config(stack_file.config_map, stack_file.source)


def test_new_model_is_appended_after_the_last_model_and_nothing_else_changes() -> None:
    new = set_model(DEV, "chat", {**CHAT, "contextLength": 4096}, "Pulumi.dev.yaml")
    diff = unified_diff(DEV, new, "Pulumi.dev.yaml")
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert added == [
        "    chat:",
        "      team: research",
        "      cluster: weu1",
        "      model: llama-3.2-3b-instruct",
        "      precision: fp8",
        "      contextLength: 4096",
    ]
    assert not [line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    # Without the six new lines the file is the old one byte for byte (comments, order, quoting).
    new_lines = new.splitlines(keepends=True)
    at = new_lines.index("    chat:\n")
    assert "".join(new_lines[:at] + new_lines[at + 6 :]) == DEV
    # The entry lands inside models (after research-3b), before ai-platform:clusters.
    assert new_lines[at - 1] == "      replicas: 2\n"
    assert new_lines[at + 6] == "  ai-platform:clusters:\n"
    assert yaml.safe_load(new)["config"]["ai-platform:models"]["chat"]["contextLength"] == 4096


def test_existing_model_is_replaced_in_place_keeping_its_neighbours() -> None:
    entry = {"team": "apps", "cluster": "weu1", "model": "qwen2.5-7b-instruct", "precision": "fp8", "replicas": 2}
    new = set_model(DEV, "assistant", entry, "Pulumi.dev.yaml")
    models = yaml.safe_load(new)["config"]["ai-platform:models"]
    assert list(models) == ["assistant", "research-3b"]
    assert models["assistant"] == entry
    assert models["research-3b"] == yaml.safe_load(DEV)["config"]["ai-platform:models"]["research-3b"]
    removed = [
        line[1:] for line in unified_diff(DEV, new, "f").splitlines() if line.startswith("-") and line[1:2] == " "
    ]
    assert "      source: Qwen/Qwen2.5-7B-Instruct-AWQ" in removed
    assert '  # Model serving (README, "Model serving"): `python -m stacks fit dev` shows' in new


def test_comments_before_the_next_key_stay_with_it() -> None:
    text = "config:\n  ai-platform:models:\n    a:\n      team: t\n\n  # about clusters\n  ai-platform:clusters: {}\n"
    new = set_model(text, "b", {"team": "u"}, "f.yaml")
    assert new == (
        "config:\n  ai-platform:models:\n    a:\n      team: t\n    b:\n      team: u\n\n"
        "  # about clusters\n  ai-platform:clusters: {}\n"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "config:\n  ai-platform:owner: me  # who\n",
            "config:\n  ai-platform:owner: me  # who\n  ai-platform:models:\n    m:\n      team: t\n",
        ),
        (
            "config:\n  ai-platform:models: {}\n  ai-platform:owner: me\n",
            "config:\n  ai-platform:models:\n    m:\n      team: t\n  ai-platform:owner: me\n",
        ),
        (
            "config:\n  ai-platform:owner: me",
            "config:\n  ai-platform:owner: me\n  ai-platform:models:\n    m:\n      team: t\n",
        ),
        (
            "config:\n    models:\n        x:\n            team: a\n",
            "config:\n    models:\n        x:\n            team: a\n        m:\n            team: t\n",
        ),
    ],
    ids=["no-models-key", "empty-flow-map", "no-final-newline", "bare-key-four-spaces"],
)
def test_layouts_the_editor_understands(text: str, expected: str) -> None:
    assert set_model(text, "m", {"team": "t"}, "f.yaml") == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("config:\n  ai-platform:models: {a: {team: t}}\n", "written as a flow map"),
        ("project: x\n", "expected a top-level 'config:' map"),
    ],
)
def test_layouts_it_refuses_with_one_line(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        set_model(text, "m", {"team": "t"}, "f.yaml")
    assert len(caught.value.lines) == 1
    assert needle in caught.value.lines[0]
    assert caught.value.lines[0].startswith("f.yaml: ")


def test_secret_values_are_masked_for_display() -> None:
    text = (
        "config:\n"
        "  ai-platform-secrets:huggingFaceToken:\n    secure: v1:AAAAcipher\n"
        "  ai-platform-secrets:other: hf_plaintexttoken\n"
        "  ai-platform:owner: me\n"
    )
    shown = masked(text)
    assert "v1:AAAAcipher" not in shown
    assert "hf_plaintexttoken" not in shown
    assert "    secure: [secret]\n" in shown
    assert "  ai-platform-secrets:other: [secret]\n" in shown
    assert "  ai-platform:owner: me\n" in shown
    diff = unified_diff(text, set_model(text, "m", {"team": "t"}, "f.yaml"), "f.yaml")
    assert "cipher" not in diff
    assert "plaintext" not in diff


def test_what_if_marks_the_only_fit_and_explains_the_rest() -> None:
    cfg = _config("dev")
    result = what_if(cfg, "Pulumi.dev.yaml", "chat", {**CHAT, "contextLength": 4096, "concurrency": 4})
    assert result.errors == []
    by_id = {o["id"]: o for o in result.options}
    assert set(by_id) == {"a100/blue/a100-1g", "t4/blue/t4", "t4/blue/t4-shared"}
    assert [o["id"] for o in result.options if o["fits"]] == ["a100/blue/a100-1g"]
    assert result.cheapest == result.fewest_gpus == result.default == "a100/blue/a100-1g"
    assert by_id["t4/blue/t4"]["reasons"] == ["team research may not claim this profile (teams.research.profiles)"]
    assert by_id["t4/blue/t4-shared"]["reasons"] == ["fp8 needs compute capability >= 8.0 (T4 has 7.5)"]
    chosen = by_id["a100/blue/a100-1g"]
    assert chosen["gpus"] == pytest.approx(1 / 7, abs=1e-3)
    assert chosen["neededGibPerGpu"] < chosen["availableGibPerGpu"] == 9.0


def test_what_if_numbers_are_the_plans_numbers() -> None:
    """The option's cost and memory are what `stacks fit` reports once the change is in the file."""
    cfg = _config("dev")
    request = {**CHAT, "contextLength": 4096, "concurrency": 4, "replicas": 2}
    option = next(o for o in what_if(cfg, "Pulumi.dev.yaml", "chat", request).options if o["fits"])
    new = set_model(DEV, "chat", request, "Pulumi.dev.yaml")
    stack_file = stack_file_from_text("dev", new, "Pulumi.dev.yaml")
    serving, issues = analyse(load_config(stack_file.config_map, stack_file.source).serving)
    assert issues == []
    row = next(r for r in serving.rows() if r["model"] == "chat")
    assert (row["pool"], row["profile"]) == (option["pool"], option["profile"])
    assert row["monthlyUsd"] == option["monthlyUsd"]
    assert row["neededGibPerGpu"] == option["neededGibPerGpu"]
    assert row["decodeTokensPerSecond"] == option["throughput"]["tokensPerSecond"] > 0
    assert row["usdPerMillionTokens"] == option["throughput"]["usdPerMillionTokens"]


def test_cheapest_and_fewest_gpus_can_differ() -> None:
    cfg = _config("dev")
    request = {
        "team": "research",
        "cluster": "weu1",
        "model": "qwen2.5-7b-instruct",
        "precision": "int4",
        "source": "Qwen/Qwen2.5-7B-Instruct-AWQ",
        "contextLength": 2048,
        "concurrency": 2,
    }
    result = what_if(cfg, "Pulumi.dev.yaml", "small", request)
    assert result.cheapest == "t4/blue/t4-shared"  # a quarter of a T4
    assert result.fewest_gpus == "a100/blue/a100-1g"  # a seventh of an A100
    by_id = {o["id"]: o for o in result.options}
    assert by_id["t4/blue/t4-shared"]["monthlyUsd"] < by_id["a100/blue/a100-1g"]["monthlyUsd"]


def test_quota_and_max_count_are_judged_like_the_plan() -> None:
    cfg = _config("dev")
    result = what_if(cfg, "Pulumi.dev.yaml", "chat", {**CHAT, "contextLength": 4096, "concurrency": 4, "replicas": 6})
    option = next(o for o in result.options if o["id"] == "a100/blue/a100-1g")
    assert not option["fits"]
    assert any("quota is 7" in r for r in option["reasons"]), option["reasons"]
    assert result.cheapest is None


def test_standby_colours_are_listed_never_as_fits() -> None:
    cfg = _config("staging")
    result = what_if(cfg, "Pulumi.staging.yaml", "chat", {**CHAT, "contextLength": 4096, "concurrency": 4})
    standby = next(o for o in result.options if o["id"] == "a100/green/a100-3g")
    assert not standby["fits"]
    assert standby["reasons"][0].startswith("standby colour green of a100")
    assert result.cheapest == "a100/blue/a100-3g"


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"contextLength": 10_000_000}, "ai-platform:models.chat.contextLength: exceeds the model's maximum context"),
        ({"team": "nobody"}, "ai-platform:models.chat.team: names a team that is not declared"),
        ({"cluster": "xx9"}, "ai-platform:models.chat.cluster: names a cluster that does not exist"),
        ({"model": "gpt-9"}, "ai-platform:models.chat.model: is not in the model catalog"),
        ({"precision": "fp4"}, "ai-platform:models.chat.precision: is not an allowed value"),
    ],
)
def test_bad_fields_get_the_plans_line(change: dict[str, object], key: str) -> None:
    result = what_if(_config("dev"), "Pulumi.dev.yaml", "chat", {**CHAT, **change})
    assert result.options == []
    assert len(result.errors) == 1
    assert result.errors[0].startswith(f"Pulumi.dev.yaml: {key}")


def test_bad_deployment_name_names_it() -> None:
    result = what_if(_config("dev"), "Pulumi.dev.yaml", "Bad_Name", CHAT)
    assert len(result.errors) == 1
    assert result.errors[0].startswith("Pulumi.dev.yaml: ai-platform:models.Bad_Name")


def test_editing_a_deployment_keeps_the_keys_the_page_does_not_manage() -> None:
    existing = {
        "team": "apps",
        "cluster": "weu1",
        "model": "m",
        "kvCacheDtype": "fp8",
        "hfToken": "myToken",
        "pool": "t4",
    }
    request = {"team": "research", "cluster": "weu1", "model": "m", "contextLength": "4096"}
    assert model_entry(request, existing) == {
        "team": "research",
        "cluster": "weu1",
        "model": "m",
        "kvCacheDtype": "fp8",
        "hfToken": "myToken",
        "contextLength": 4096,
    }
    text = "config:\n  ai-platform:models:\n    chat:\n      team: apps\n      kvCacheDtype: fp8\n"
    assert existing_entry(text, "chat") == {"team": "apps", "kvCacheDtype": "fp8"}
    assert existing_entry(text, "other") is None
    assert existing_entry("config: [", "chat") is None


def test_windows_line_endings_stay() -> None:
    text = "config:\r\n  ai-platform:models:\r\n    a:\r\n      team: t\r\n  ai-platform:owner: me\r\n"
    new = set_model(text, "b", {"team": "u"}, "f.yaml")
    assert new == (
        "config:\r\n  ai-platform:models:\r\n    a:\r\n      team: t\r\n"
        "    b:\r\n      team: u\r\n  ai-platform:owner: me\r\n"
    )
