"""The page's stack-file edit (stacks/ui/stackedit.py) and the what-if fit (stacks/ui/whatif.py), without HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components._common import ConfigError
from components.serving import analyse
from components.serving.importer import params_from_config_json
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


# --- models given by params (an imported config.json) ------------------------------------------------------
QWEN_JSON = (ROOT / "tests" / "fixtures" / "hf-configs" / "qwen2.5-7b-instruct.json").read_text()


def _imported() -> dict[str, object]:
    return params_from_config_json(QWEN_JSON)


def _qwen_request() -> dict[str, object]:
    """The imported Qwen2.5-7B served from its AWQ checkpoint on a quarter of a T4 (what fits in dev)."""
    imported = _imported()
    return {
        "team": "research",
        "cluster": "weu1",
        "params": imported["params"],
        "precision": "int4",
        "source": "Qwen/Qwen2.5-7B-Instruct-AWQ",
        "contextLength": 4096,
        "concurrency": 4,
    }


def test_params_are_written_as_a_nested_map_at_the_files_indent() -> None:
    request = _qwen_request()
    new = set_model(DEV, "qwen", model_entry(request), "Pulumi.dev.yaml")
    added = [line[1:] for line in unified_diff(DEV, new, "f").splitlines() if line.startswith("+")][1:]
    assert added == [
        "    qwen:",
        "      team: research",
        "      cluster: weu1",
        "      params:",
        "        parametersBillions: 7.62",
        "        layers: 28",
        "        attentionHeads: 28",
        "        kvHeads: 4",
        "        headDim: 128",
        "        maxContext: 32768",
        "        defaultPrecision: bf16",
        "      precision: int4",
        "      source: Qwen/Qwen2.5-7B-Instruct-AWQ",
        "      contextLength: 4096",
        "      concurrency: 4",
    ]
    assert yaml.safe_load(new)["config"]["ai-platform:models"]["qwen"]["params"] == request["params"]
    # Four-space files get four-space nesting all the way down.
    text = "config:\n    models:\n        x:\n            team: a\n"
    four = set_model(text, "m", {"team": "t", "params": {"layers": 2, "kvHeads": 1}}, "f.yaml")
    assert (
        four
        == text
        + "        m:\n            team: t\n            params:\n"
        + "                layers: 2\n                kvHeads: 1\n"
    )


def test_a_params_entry_round_trips_and_is_replaced_whole() -> None:
    """Write a params-model, replace it with other params, then with a catalog model: each time only that entry
    changes (comments, order, the neighbours byte for byte) and the nested lines leave no remains."""
    text = (
        "config:\n"
        "  ai-platform:models:\n"
        "    # the imported one\n"
        "    big:\n"
        "      team: t\n"
        "      params:\n"
        "        layers: 80  # from config.json\n"
        "        kvHeads: 8\n"
        "      source: org/big\n"
        "    small:\n"
        "      team: t\n"
        "      model: llama-3.2-3b-instruct\n"
        "\n"
        "  # clusters follow\n"
        "  ai-platform:owner: me\n"
    )
    assert existing_entry(text, "big") == {"team": "t", "params": {"layers": 80, "kvHeads": 8}, "source": "org/big"}
    new_params = {"layers": 40, "kvHeads": 4, "headDim": 64}
    entry = model_entry({"team": "t", "params": new_params, "source": "org/big"}, existing_entry(text, "big"))
    assert list(entry) == ["team", "params", "source"]
    replaced = set_model(text, "big", entry, "f.yaml")
    assert replaced == text.replace(
        "      params:\n        layers: 80  # from config.json\n        kvHeads: 8\n",
        "      params:\n        layers: 40\n        kvHeads: 4\n        headDim: 64\n",
    )
    as_catalog = model_entry({"team": "t", "model": "llama-3.2-3b-instruct"}, existing_entry(replaced, "big"))
    assert as_catalog == {"team": "t", "model": "llama-3.2-3b-instruct"}  # params gone, model in its place
    back = set_model(replaced, "big", as_catalog, "f.yaml")
    assert "params" not in back
    assert "layers" not in back
    assert back.startswith("config:\n  ai-platform:models:\n    # the imported one\n    big:\n      team: t\n")
    assert back.endswith(
        "    small:\n      team: t\n      model: llama-3.2-3b-instruct\n"
        "\n  # clusters follow\n  ai-platform:owner: me\n"
    )


def test_model_and_params_replace_each_other_in_place() -> None:
    existing = {"team": "t", "cluster": "c", "model": "llama-3.2-3b-instruct", "replicas": 2, "hfToken": "tok"}
    swapped = model_entry({"team": "t", "cluster": "c", "params": {"layers": 2}, "replicas": 2}, existing)
    assert list(swapped) == ["team", "cluster", "params", "replicas", "hfToken"]
    assert "model" not in swapped
    # Naming neither keeps what the file has (an edit of a params-model keeps its params) ...
    kept = model_entry({"team": "u", "cluster": "c"}, {"team": "t", "cluster": "c", "params": {"layers": 2}})
    assert kept == {"team": "u", "cluster": "c", "params": {"layers": 2}}
    # ... and hfToken stays unless the request sends it; sent empty, it is removed.
    assert model_entry({"team": "t", "cluster": "c", "hfToken": ""}, existing) == {
        "team": "t",
        "cluster": "c",
        "model": "llama-3.2-3b-instruct",
    }
    assert model_entry({"team": "t", "hfToken": "other"}, existing)["hfToken"] == "other"


def test_what_if_of_an_imported_model_is_the_plans_answer() -> None:
    """Unpinned, the option marked default is where the plan puts it; pinned, every fitting option's cost,
    memory and throughput are the plan's once the change is in the file."""
    cfg = _config("dev")
    request = _qwen_request()
    result = what_if(cfg, "Pulumi.dev.yaml", "qwen", request)
    assert result.errors == []
    assert result.entry["params"] == request["params"]
    assert "model" not in result.entry
    fits = {o["id"]: o for o in result.options if o["fits"]}
    assert set(fits) == {"t4/blue/t4-shared", "a100/blue/a100-1g"}
    assert result.cheapest == "t4/blue/t4-shared"  # a quarter of a T4 costs least per replica ...
    # ... but the plan's packing puts it on the A100 research-3b's MIG slices already hold (no GPU more).
    assert result.default == result.fewest_gpus == "a100/blue/a100-1g"
    for option_id, pin in ((result.default, {}), (result.cheapest, {"pool": "t4", "profile": "t4-shared"})):
        new = set_model(DEV, "qwen", model_entry({**request, **pin}), "Pulumi.dev.yaml")
        stack_file = stack_file_from_text("dev", new, "Pulumi.dev.yaml")
        cfg_after = load_config(stack_file.config_map, stack_file.source)
        assert cfg_after.models["qwen"].params is not None
        assert cfg_after.models["qwen"].params.kv_heads == 4
        serving, issues = analyse(cfg_after.serving)
        assert issues == []
        row = next(r for r in serving.rows() if r["model"] == "qwen")
        option = fits[option_id]
        assert row["catalogModel"] == "custom"
        assert (row["pool"], row["profile"]) == (option["pool"], option["profile"])
        assert row["monthlyUsd"] == option["monthlyUsd"]
        assert row["neededGibPerGpu"] == option["neededGibPerGpu"]
        if option["kind"] != "timeShared":  # the page counts a time-shared GPU as fully shared (worst case)
            assert row["decodeTokensPerSecond"] == option["throughput"]["tokensPerSecond"] > 0


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"source": "", "precision": ""}, "ai-platform:models.qwen.source: is required with params"),
        ({"model": "llama-3.2-3b-instruct"}, "ai-platform:models.qwen.model: give exactly one of model"),
        ({"params": {**_imported()["params"], "kvHeads": 3}}, "ai-platform:models.qwen.params.kvHeads: must divide"),
        ({"params": {**_imported()["params"], "layerz": 3}}, "ai-platform:models.qwen.params.layerz: "),
        ({"contextLength": 65536}, "ai-platform:models.qwen.contextLength: exceeds the model's maximum context"),
    ],
    ids=["no-source", "model-and-params", "bad-kv-heads", "unknown-key", "context-over-max"],
)
def test_bad_params_requests_get_the_plans_line(change: dict[str, object], key: str) -> None:
    result = what_if(_config("dev"), "Pulumi.dev.yaml", "qwen", {**_qwen_request(), **change})
    assert result.options == []
    assert len(result.errors) == 1, result.errors
    assert result.errors[0].startswith(f"Pulumi.dev.yaml: {key}")


def test_the_docs_example_is_what_the_page_writes() -> None:
    """docs/ui.md shows the params entry an import of Qwen2.5-7B writes; it must be the editor's own output."""
    docs = (ROOT / "docs" / "ui.md").read_text()
    section = docs[docs.index("## Importing a model from its config.json") :]
    block = section[section.index("```yaml\n") + len("```yaml\n") : section.index("  ```\n")]
    shown = [line.removeprefix("  ") for line in block.splitlines()]
    new = set_model(DEV, "qwen", model_entry(_qwen_request()), "Pulumi.dev.yaml")
    added = [line[1:] for line in unified_diff(DEV, new, "f").splitlines() if line.startswith("+")][1:]
    assert shown == added


def test_nested_params_keep_windows_line_endings() -> None:
    text = "config:\r\n  ai-platform:models:\r\n    a:\r\n      team: t\r\n"
    new = set_model(text, "b", {"team": "u", "params": {"layers": 2}}, "f.yaml")
    assert new == text + "    b:\r\n      team: u\r\n      params:\r\n        layers: 2\r\n"
