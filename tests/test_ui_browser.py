"""The self-service page as a person uses it, in Debian's headless Chromium: choose -> see fit -> produce the
change -> write it; the diff is the expected one and the written file still plans.

Skipped only when /usr/bin/chromium (or chromedriver) is absent on a developer machine; under CI (``CI=true``,
where .ci/run installs both) a missing browser fails the test instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from stacks.plan import run_plan
from tests.ui_browser import (
    ROOT,
    browser_available,
    choose_fit_change,
    chromium,
    fit_and_change,
    open_page,
    running_server,
    upload_config,
)

if not browser_available():
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but /usr/bin/chromium or /usr/bin/chromedriver is missing (.ci/run installs them)")
    pytest.skip(
        "no /usr/bin/chromium + /usr/bin/chromedriver (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )


def test_choose_fit_change_write(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.dev.yaml"
    shutil.copyfile(ROOT / "Pulumi.dev.yaml", stack_file)
    before = stack_file.read_text()
    with running_server("dev", stack_file) as server, chromium() as driver:
        choose_fit_change(driver, server.url, "llama-3.2-3b-instruct", "research", "chat", "fp8")
        # The glance shows the stack: both pool groups with their colour, the policy verdict.
        pools = driver.find_element(By.ID, "pools-table").text
        assert "a100" in pools
        assert "blue active" in pools
        assert "all" in driver.find_element(By.ID, "policy-list").text
        # The fit: one option fits, marked cheapest and fewest GPUs; the others say why not.
        fits = driver.find_elements(By.CSS_SELECTOR, "#fit-table tr.fits")
        assert [row.get_attribute("data-option") for row in fits] == ["a100/blue/a100-1g"]
        verdict = fits[0].find_element(By.CLASS_NAME, "verdict").text
        assert "cheapest" in verdict
        assert "fewest GPUs" in verdict
        reasons = {
            row.get_attribute("data-option"): row.find_element(By.CLASS_NAME, "verdict").text
            for row in driver.find_elements(By.CSS_SELECTOR, "#fit-table tr.nofit")
        }
        assert "may not claim this profile" in reasons["t4/blue/t4"]
        assert "compute capability" in reasons["t4/blue/t4-shared"]
        # The change: exactly the new entry, validated.
        assert driver.find_element(By.ID, "change-status").get_attribute("class") == "ok"
        diff = driver.find_element(By.ID, "diff").text
        added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
        assert added == [
            "    chat:",
            "      team: research",
            "      cluster: weu1",
            "      model: llama-3.2-3b-instruct",
            "      precision: fp8",
            "      contextLength: 4096",
            "      concurrency: 4",
            "      replicas: 1",
        ]
        assert stack_file.read_text() == before  # nothing written before confirming
        write = driver.find_element(By.ID, "write-btn")
        assert not write.is_enabled()
        driver.find_element(By.ID, "confirm").click()
        write.click()
        WebDriverWait(driver, 60).until(lambda d: "written to" in d.find_element(By.ID, "write-status").text)
        WebDriverWait(driver, 60).until(lambda d: "chat" in d.find_element(By.ID, "models-table").text)
    after = stack_file.read_text()
    assert after != before
    plan = run_plan("dev", stack_file)
    assert plan.exit_code() == 0
    assert plan.config.models["chat"].context_length == 4096


def test_errors_are_shown_next_to_the_field(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.dev.yaml"
    shutil.copyfile(ROOT / "Pulumi.dev.yaml", stack_file)
    with running_server("dev", stack_file) as server, chromium() as driver:
        # int8 has no checkpoint in the catalog: the fit names the source field, and no change is offered.
        choose_fit_change(driver, server.url, "llama-3.2-3b-instruct", "research", "chat", "int8", produce=False)
        assert driver.find_element(By.ID, "err-source").text.startswith(
            "Pulumi.dev.yaml: ai-platform:models.chat.source: int8 needs a pre-quantized checkpoint"
        )
        assert not driver.find_element(By.ID, "change-btn").is_enabled()
        assert not driver.find_element(By.ID, "confirm").is_enabled()
    assert stack_file.read_text() == (ROOT / "Pulumi.dev.yaml").read_text()


HF_CONFIGS = ROOT / "tests" / "fixtures" / "hf-configs"


def _added(driver: Any) -> list[str]:
    diff = driver.find_element(By.ID, "diff").text
    return [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]


BAD_UPLOADS = {
    "notes.json": ("{this is not json", "notes.json: config.json is not JSON ("),
    "rwkv.json": (
        '{"model_type": "rwkv", "architectures": ["RwkvForCausalLM"]}',
        "rwkv.json: model_type: is not an architecture the importer can count",
    ),
    "partial.json": (
        '{"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32}',
        "partial.json: num_attention_heads: is missing",
    ),
}


def test_import_a_config_json_fit_change_write(tmp_path: Path) -> None:
    """Bad uploads get one line next to the upload control and import nothing; then Qwen2.5-7B's config.json
    -> it is offered as imported -> fits -> the change writes its params -> the file plans; editing the
    deployment afterwards keeps the params. (One browser session: each costs a Chromium start and a plan.)"""
    stack_file = tmp_path / "Pulumi.dev.yaml"
    shutil.copyfile(ROOT / "Pulumi.dev.yaml", stack_file)
    with running_server("dev", stack_file) as server, chromium() as driver:
        open_page(driver, server.url)
        result = driver.find_element(By.ID, "import-result")
        choices = [o.get_attribute("value") for o in Select(driver.find_element(By.ID, "f-model")).options]
        for file_name, (text, line) in BAD_UPLOADS.items():
            path = tmp_path / file_name
            path.write_text(text)
            driver.execute_script("document.getElementById('import-result').textContent = ''")
            shown = upload_config(driver, path)
            assert shown.startswith(line), shown
            assert "\n" not in shown
            assert result.get_attribute("class") == "field-error"
            # Nothing was imported: the model choice is unchanged.
            assert [o.get_attribute("value") for o in Select(driver.find_element(By.ID, "f-model")).options] == choices
            driver.execute_script("document.getElementById('import-file').value = ''")
        assert stack_file.read_text() == (ROOT / "Pulumi.dev.yaml").read_text()
        driver.execute_script("document.getElementById('import-result').textContent = ''")
        shown = upload_config(driver, HF_CONFIGS / "qwen2.5-7b-instruct.json")
        assert result.get_attribute("class") == "muted"  # the error is gone
        assert shown.startswith(
            "imported qwen2.5-7b-instruct: 7.62B parameters, 28 layers, 28 heads / 4 KV heads x 128"
        )
        row = driver.find_element(By.CSS_SELECTOR, '#catalog-table tr[data-model="imported:qwen2.5-7b-instruct"]')
        assert "imported" in row.text
        model = Select(driver.find_element(By.ID, "f-model"))
        assert model.first_selected_option.text == "qwen2.5-7b-instruct (imported)"
        assert "llama-3.2-3b-instruct" in [o.get_attribute("value") for o in model.options]  # beside the catalog
        source = driver.find_element(By.ID, "f-source")
        assert source.get_attribute("value") == "Qwen/Qwen2.5-7B-Instruct"  # from config.json, editable
        assert driver.find_element(By.ID, "f-name").get_attribute("value") == "qwen2-5-7b-instruct"
        # Served at int4 from the publisher's AWQ checkpoint: the source is edited to it.
        source.clear()
        source.send_keys("Qwen/Qwen2.5-7B-Instruct-AWQ")
        fit_and_change(driver, "research", "qwen", "int4")
        fits = {
            row.get_attribute("data-option"): row.find_element(By.CLASS_NAME, "verdict").text
            for row in driver.find_elements(By.CSS_SELECTOR, "#fit-table tr.fits")
        }
        assert set(fits) == {"a100/blue/a100-1g", "t4/blue/t4-shared"}
        assert "cheapest" in fits["t4/blue/t4-shared"]
        assert "plan's choice" in fits["a100/blue/a100-1g"]  # joins the A100 research-3b already holds
        assert driver.find_element(By.ID, "change-status").get_attribute("class") == "ok"
        # The cheapest option is selected; it is not the plan's own choice, so the change pins it.
        assert _added(driver) == [
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
            "      replicas: 1",
            "      pool: t4",
            "      profile: t4-shared",
        ]
        driver.find_element(By.ID, "confirm").click()
        driver.find_element(By.ID, "write-btn").click()
        WebDriverWait(driver, 60).until(lambda d: "written to" in d.find_element(By.ID, "write-status").text)
        WebDriverWait(driver, 60).until(lambda d: "\nqwen " in d.find_element(By.ID, "models-table").text)
        models = driver.find_element(By.ID, "models-table").text
        assert "\nqwen research imported params int4 weu1/t4/t4-shared " in models
        plan = run_plan("dev", stack_file)
        assert plan.exit_code() == 0
        spec = plan.config.models["qwen"]
        assert spec.model is None
        assert spec.params is not None
        assert (spec.params.layers, spec.params.kv_heads, spec.source) == (28, 4, "Qwen/Qwen2.5-7B-Instruct-AWQ")
        # Edit the written deployment: the form holds its params (imported from the file), and a change of
        # concurrency touches only that line.
        edit = next(
            r for r in driver.find_elements(By.CSS_SELECTOR, "#models-table tbody tr") if r.text.startswith("qwen ")
        )
        edit.find_element(By.CLASS_NAME, "edit").click()
        assert Select(driver.find_element(By.ID, "f-model")).first_selected_option.text == "models.qwen (imported)"
        assert "7.62B parameters" in driver.find_element(By.ID, "model-info").text
        fit_and_change(driver, "research", "qwen", "int4", fields=(("f-concurrency", "2"),))
        assert driver.find_element(By.ID, "change-status").get_attribute("class") == "ok"
        assert _added(driver) == ["      concurrency: 2"]
