"""CI workflows: the preview runs where it can reach the clusters and stays logged in; the PR check needs no cloud.

Schema validity of every workflow is checked in tests/test_policies_stacks.py (check-jsonschema,
``vendor.github-workflows``); these tests read what the jobs do.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
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


# --------------------------------------------------------------------------------------------------------
# diff.yml: `stacks diff` on every pull request, no cloud credentials, one comment per pull request
# --------------------------------------------------------------------------------------------------------

MARKER = "<!-- ai-platform stacks diff -->"


@pytest.fixture(scope="module")
def diff_job() -> dict[str, Any]:
    job: dict[str, Any] = _load("diff.yml")["jobs"]["diff"]
    return job


def test_diff_workflow_has_no_cloud_credentials(diff_job: dict[str, Any]) -> None:
    workflow = _load("diff.yml")
    lines = (WORKFLOWS / "diff.yml").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))  # what runs, not the comments
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert workflow[True] == {"pull_request": {"branches": ["main"]}}  # YAML 1.1 reads the key `on` as True
    for forbidden in ("secrets.", "vars.", "id-token", "azure/login", "pulumi/actions", "ARM_", "PULUMI_ACCESS_TOKEN"):
        assert forbidden not in text, forbidden
    uses = [s["uses"] for s in diff_job["steps"] if "uses" in s]
    script = next(u for u in uses if u.startswith("actions/github-script@"))
    assert re.fullmatch(r"actions/github-script@[0-9a-f]{40}", script)  # pinned by full commit SHA (v7.0.1)


def test_diff_step_runs_stacks_diff_for_each_affected_stack(diff_job: dict[str, Any], tmp_path: Path) -> None:
    """The step's own script, run as the runner would, in a clone where a pull request edits the staging stack."""
    from tests.helpers import git, project_repo  # noqa: PLC0415

    repo = project_repo(tmp_path / "repo")
    base = git(repo, "rev-parse", "HEAD").strip()
    stack_file = repo / "Pulumi.staging.yaml"
    stack_file.write_text(stack_file.read_text().replace("minCount: 0\n", "minCount: 1\n", 1))
    git(repo, "commit", "-qam", "raise green")
    step = _step(diff_job, "Diff every affected stack")
    runner = tmp_path / "runner"
    runner.mkdir()
    outputs, summary = runner / "output", runner / "summary"
    run = subprocess.run(
        ["bash", "-e", "-c", step["run"].replace(".venv/bin/python", sys.executable)],
        cwd=repo,
        env={
            **os.environ,
            "BASE_SHA": base,
            "RUNNER_TEMP": str(runner),
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(summary),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert values["status"] == "0"
    body = Path(values["body"]).read_text()
    assert body.startswith(MARKER + "\n")
    assert body.count(MARKER) == 1
    assert "**`stacks diff` staging**: 0 to create, 1 to update, 0 to replace, 0 to delete" in body
    assert "`minCount: 0 -> 1`" in body
    assert "dev" not in re.findall(r"`stacks diff` (\w+)", body)  # only the affected stack
    assert summary.read_text() == body


def _run_comment_script(diff_job: dict[str, Any], tmp_path: Path, comments: list[dict[str, Any]]) -> list[Any]:
    step = next(s for s in diff_job["steps"] if str(s.get("uses", "")).startswith("actions/github-script@"))
    body = tmp_path / "body.md"
    body.write_text(f"{MARKER}\nnew diff\n")
    harness = f"""
const calls = [];
const github = {{
  paginate: async (fn, args) => {{ calls.push(["list", args.issue_number]); return {json.dumps(comments)}; }},
  rest: {{ issues: {{
    listComments: () => {{}},
    updateComment: async (args) => calls.push(["update", args.comment_id, args.body]),
    createComment: async (args) => calls.push(["create", args.issue_number, args.body]),
  }} }},
}};
const context = {{ repo: {{ owner: "o", repo: "r" }}, payload: {{ pull_request: {{ number: 7 }} }} }};
(async () => {{
{step["with"]["script"]}
}})().then(() => console.log(JSON.stringify(calls)));
"""
    run = subprocess.run(
        ["node", "-e", harness],
        env={**os.environ, "BODY_FILE": str(body)},
        capture_output=True,
        text=True,
        check=True,
    )
    result: list[Any] = json.loads(run.stdout)
    return result


@pytest.mark.skipif(shutil.which("node") is None, reason="the comment script is JavaScript (actions/github-script)")
def test_comment_script_creates_then_updates_one_comment(diff_job: dict[str, Any], tmp_path: Path) -> None:
    body = f"{MARKER}\nnew diff\n"
    assert _run_comment_script(diff_job, tmp_path, []) == [["list", 7], ["create", 7, body]]
    existing = [
        {"id": 1, "user": {"type": "User"}, "body": f"{MARKER} quoted by a person"},
        {"id": 2, "user": {"type": "Bot"}, "body": "another bot"},
        {"id": 3, "user": {"type": "Bot"}, "body": f"{MARKER}\nold diff"},
    ]
    assert _run_comment_script(diff_job, tmp_path, existing) == [["list", 7], ["update", 3, body]]
