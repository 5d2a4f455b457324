"""The self-service page as a person uses it, in Debian's headless Chromium: choose -> see fit -> produce the
change -> write it; the diff is the expected one and the written file still plans.

Skipped only when /usr/bin/chromium (or chromedriver) is absent on a developer machine; under CI (``CI=true``,
where .ci/run installs both) a missing browser fails the test instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from stacks.plan import run_plan
from tests.ui_browser import ROOT, browser_available, choose_fit_change, chromium, running_server

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
