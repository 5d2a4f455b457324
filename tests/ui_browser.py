"""Drive the self-service page in Debian's headless Chromium through Selenium (tests and the README screenshot).

Only the system browser and driver are used (``/usr/bin/chromium``, ``/usr/bin/chromedriver``, installed by
``.ci/run`` from Debian's packages): Selenium is given the driver's path and ``SE_OFFLINE`` so that Selenium
Manager never downloads anything. ``python -m tests.ui_browser docs/ui.png`` takes the README's screenshot
of the shipped dev stack after one choose -> fit -> change pass (the stack file is a temporary copy).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from stacks.ui.server import UiServer, serve
from stacks.ui.service import StackService

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
ROOT = Path(__file__).resolve().parent.parent


def browser_available() -> bool:
    return CHROMIUM.is_file() and CHROMEDRIVER.is_file()


@contextlib.contextmanager
def chromium(width: int = 1400, height: int = 2400) -> Iterator[webdriver.Chrome]:
    """A headless Chromium WebDriver with a fresh profile directory, quit and removed afterwards."""
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager: never download a browser or driver
    profile = tempfile.mkdtemp(prefix="ui-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@contextlib.contextmanager
def running_server(stack: str, config_file: Path) -> Iterator[UiServer]:
    """The UI server for ``config_file`` on a free port in a background thread."""
    service = StackService(stack, config_file)
    server = serve(service, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        service.close()


def open_page(driver: Any, url: str) -> None:
    driver.get(url)
    WebDriverWait(driver, 60).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")


def choose_fit_change(
    driver: Any, url: str, model: str, team: str, name: str, precision: str, produce: bool = True
) -> None:
    """What a person does: search the catalog, use a model, fill the form, show the fit, produce the change
    (``produce=False``: stop after the fit, or after the field errors the fit shows)."""
    wait = WebDriverWait(driver, 60)
    open_page(driver, url)
    search = driver.find_element(By.ID, "catalog-search")
    search.send_keys(model)
    row = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, f'#catalog-table tr[data-model="{model}"] button')))
    row.click()
    fit_and_change(driver, team, name, precision, produce=produce)


def upload_config(driver: Any, config_json: Path) -> str:
    """Choose ``config_json`` in the import control; the line the page shows next to it once the import answers."""
    result = driver.find_element(By.ID, "import-result")
    driver.find_element(By.ID, "import-file").send_keys(str(config_json.resolve()))
    WebDriverWait(driver, 60).until(lambda d: result.text)
    return str(result.text)


def fit_and_change(
    driver: Any,
    team: str,
    name: str,
    precision: str,
    produce: bool = True,
    fields: tuple[tuple[str, str], ...] = (("f-contextLength", "4096"), ("f-concurrency", "4")),
) -> None:
    """Fill the fit form (the model already chosen), show the fit and, with ``produce``, produce the change."""
    wait = WebDriverWait(driver, 60)
    name_field = driver.find_element(By.ID, "f-name")
    name_field.clear()
    name_field.send_keys(name)
    Select(driver.find_element(By.ID, "f-team")).select_by_value(team)
    Select(driver.find_element(By.ID, "f-precision")).select_by_value(precision)
    for field, value in fields:
        element = driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)
    driver.find_element(By.ID, "fit-btn").click()
    wait.until(
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, "#fit-table tbody tr")
            or any(e.text for e in d.find_elements(By.CLASS_NAME, "field-error"))
        )
    )
    if not produce:
        return
    wait.until(ec.element_to_be_clickable((By.ID, "change-btn"))).click()
    wait.until(lambda d: d.find_element(By.ID, "change-status").get_attribute("class") in ("ok", "bad"))


def screenshot(target: Path) -> None:
    """The README's picture: the dev stack after choose -> fit -> change (on a temporary copy of the file)."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "Pulumi.dev.yaml"
        shutil.copyfile(ROOT / "Pulumi.dev.yaml", copy)
        with running_server("dev", copy) as server, chromium(1400, 2700) as driver:
            choose_fit_change(driver, server.url, "llama-3.2-3b-instruct", "research", "chat", "fp8")
            # The whole page, not the window's blank rest.
            height = driver.execute_script("return document.querySelector('main').getBoundingClientRect().bottom")
            driver.set_window_size(1400, int(height) + 140)  # the window frame takes some of it
            driver.save_screenshot(str(target))


if __name__ == "__main__":
    screenshot(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/ui.png"))
