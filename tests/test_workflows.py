"""CI workflows: the preview runs where it can reach the clusters and stays logged in; the PR check needs no cloud.

Schema validity of every workflow is checked in tests/test_policies_stacks.py (check-jsonschema,
``vendor.github-workflows``); these tests read what the jobs do.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parent.parent / ".github" / "workflows"


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return loaded


@pytest.fixture(scope="module")
def preview_job() -> dict[str, Any]:
    job: dict[str, Any] = _load("preview.yml")["jobs"]["preview"]
    return job


def _step(job: dict[str, Any], name_start: str) -> dict[str, Any]:
    (step,) = [s for s in job["steps"] if s.get("name", "").startswith(name_start)]
    return step


def test_preview_runner_labels_come_from_repository_variables(preview_job: dict[str, Any]) -> None:
    runs_on = preview_job["runs-on"]
    assert isinstance(runs_on, str)
    expression = runs_on.removeprefix("${{").removesuffix("}}").strip()
    assert expression.startswith("fromJSON(")
    # Per stack first, then one for all stacks, then the hosted default.
    assert "vars[format('PREVIEW_RUNNER_LABELS_{0}', matrix.stack)]" in expression
    assert expression.index("matrix.stack") < expression.index("vars.PREVIEW_RUNNER_LABELS ")
    assert "'[\"ubuntu-latest\"]'" in expression


def test_private_clusters_are_refused_on_hosted_runners(preview_job: dict[str, Any]) -> None:
    guard = _step(preview_job, "A private API server")
    assert guard["if"] == "runner.environment == 'github-hosted'"
    steps = [s.get("name", s.get("uses")) for s in preview_job["steps"]]
    assert steps.index(guard["name"]) < steps.index("azure/login@v2")
    # Run the guard's script as the runner would, for a public (dev) and a private (prod) stack.
    results = {}
    for stack in ("dev", "prod"):
        with tempfile.TemporaryDirectory() as tmp:
            run = subprocess.run(
                ["bash", "-e", "-c", guard["run"].replace(".venv/bin/python", sys.executable)],
                cwd=WORKFLOWS.parent.parent,
                env={
                    **os.environ,
                    "RUNNER_TEMP": tmp,
                    **{k: v.replace("${{ matrix.stack }}", stack) for k, v in guard["env"].items()},
                },
                capture_output=True,
                text=True,
                check=False,
            )
        results[stack] = (run.returncode, run.stdout)
    assert results["dev"] == (0, "")
    code, out = results["prod"]
    assert code == 1
    assert "::error::prod has private API servers (neu1-aks weu1-aks)" in out
    assert "PREVIEW_RUNNER_LABELS_PROD" in out


def test_federated_token_is_refreshed_for_the_whole_job(preview_job: dict[str, Any]) -> None:
    step = _step(preview_job, "Federated token")
    script = step["run"]
    assert "AZURE_FEDERATED_TOKEN_FILE=" in script
    assert "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=api%3A%2F%2FAzureADTokenExchange" in script
    # A background loop rewrites the file well inside the ID token's ~5 minute lifetime.
    loop = re.search(r"nohup bash -c 'while sleep (\d+); do", script)
    assert loop is not None
    assert int(loop.group(1)) <= 240
    assert script.rstrip().splitlines()[-1].startswith('echo "AZURE_FEDERATED_TOKEN_FILE=')
    steps = [s.get("name", s.get("uses")) for s in preview_job["steps"]]
    assert steps.index(step["name"]) < steps.index("pulumi/actions@v7", steps.index(step["name"]))


@pytest.fixture
def oidc_endpoint() -> Iterator[tuple[str, list[str]]]:
    """A local stand-in for GitHub's ID-token endpoint: answers ``{"value": "jwt-<n>"}`` to an authorised request
    for Entra ID's token-exchange audience, and records each request's path."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            authorised = self.headers.get("Authorization") == "bearer request-token"
            self.send_response(200 if authorised else 403)
            self.end_headers()
            self.wfile.write(json.dumps({"value": f"jwt-{len(seen)}"}).encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token?api-version=2.0", seen
    finally:
        server.shutdown()
        thread.join()


def test_refresh_script_writes_a_fresh_token_each_time(
    preview_job: dict[str, Any], tmp_path: Path, oidc_endpoint: tuple[str, list[str]]
) -> None:
    """The step's own script, run as the runner would (without starting its background loop)."""
    url, seen = oidc_endpoint
    step = _step(preview_job, "Federated token")
    env = {
        **os.environ,
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_ENV": str(tmp_path / "github_env"),
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token",
        "ACTIONS_ID_TOKEN_REQUEST_URL": url,
    }
    script = step["run"].replace("nohup bash -c", "true ||")
    run = subprocess.run(["bash", "-e", "-c", script], env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    token_file = tmp_path / "azure-federated-token"
    assert token_file.read_text() == "jwt-1\n"
    assert (tmp_path / "github_env").read_text() == f"AZURE_FEDERATED_TOKEN_FILE={token_file}\n"
    # What the loop runs every two minutes: the file then holds the new token.
    refresher = tmp_path / "refresh-federated-token.sh"
    subprocess.run([str(refresher), str(token_file)], env=env, check=True, capture_output=True)
    assert token_file.read_text() == "jwt-2\n"
    assert seen == ["/token?api-version=2.0&audience=api%3A%2F%2FAzureADTokenExchange"] * 2
    # A refused request leaves the last good token in place (the loop logs and retries).
    failed = subprocess.run(
        [str(refresher), str(token_file)],
        env={**env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "wrong"},
        capture_output=True,
        check=False,
    )
    assert failed.returncode != 0
    assert token_file.read_text() == "jwt-2\n"


def test_kubelogin_gets_client_tenant_and_authority(preview_job: dict[str, Any]) -> None:
    env = preview_job["env"]
    assert env["AZURE_TENANT_ID"] == env["ARM_TENANT_ID"] == "${{ vars.AZURE_TENANT_ID }}"
    assert env["AZURE_CLIENT_ID"] == env["ARM_CLIENT_ID"] == "${{ vars.AZURE_CLIENT_ID }}"
    assert env["AZURE_AUTHORITY_HOST"] == "https://login.microsoftonline.com/"
    login = _step(preview_job, "CI logs in to the clusters")
    assert "ai-platform:kubelogin workloadidentity" in login["run"]


def test_pull_request_check_needs_no_cloud() -> None:
    ci = _load("ci.yml")
    text = (WORKFLOWS / "ci.yml").read_text()
    assert ci["permissions"] == {"contents": "read"}
    assert "secrets." not in text
    assert "vars." not in text
    assert "id-token" not in text
    (job,) = ci["jobs"].values()
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert "pytest" in runs
    assert "python -m stacks plan" in runs
