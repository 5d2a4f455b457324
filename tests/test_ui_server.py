"""The self-service page's server (stacks/ui/server.py): endpoints, security checks, writing, the CLI."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stacks.__main__ import main
from stacks.plan import run_plan
from stacks.ui import server as server_module
from stacks.ui.server import Handler, UiServer, allowed_hosts, serve
from stacks.ui.service import StackService

ROOT = Path(__file__).resolve().parent.parent
CHAT = {
    "name": "chat",
    "team": "research",
    "cluster": "weu1",
    "model": "llama-3.2-3b-instruct",
    "precision": "fp8",
    "contextLength": 4096,
    "concurrency": 4,
    "replicas": 1,
}
SECRET_TEXT = "\n  ai-platform-secrets:huggingFaceToken:\n    secure: v1:SECRETCIPHERTEXT\n"


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UiServer, Path]]:
    folder = tmp_path_factory.mktemp("ui")
    stack_file = folder / "Pulumi.dev.yaml"
    # The dev stack with an encrypted token, as `pulumi config set --secret` writes it.
    stack_file.write_text((ROOT / "Pulumi.dev.yaml").read_text() + SECRET_TEXT.lstrip("\n"))
    service = StackService("dev", stack_file)
    server = serve(service, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, stack_file
    server.shutdown()
    server.server_close()
    service.close()


def request(
    server: UiServer,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    sent = {"Host": f"127.0.0.1:{server.port}"}
    if method == "POST":
        sent |= {"Content-Type": "application/json", "X-CSRF-Token": server.csrf_token}
    sent |= headers or {}
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for key, value in sent.items():
        if value is not None:
            connection.putheader(key, value)
    if data is not None:
        connection.putheader("Content-Length", str(len(data)))
    connection.endheaders(data)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def api(server: UiServer, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
    status, _, payload = request(server, method, path, body, **kwargs)
    return status, json.loads(payload)


def test_binds_to_loopback_only(ui: tuple[UiServer, Path]) -> None:
    server, _ = ui
    assert server.server_address[0] == "127.0.0.1"
    assert server_module.BIND_HOST == "127.0.0.1"


def test_page_carries_the_token_and_a_strict_policy(ui: tuple[UiServer, Path]) -> None:
    server, _ = ui
    status, headers, body = request(server, "GET", "/")
    assert status == 200
    page = body.decode()
    assert f'<meta name="csrf-token" content="{server.csrf_token}">' in page
    assert "{{" not in page
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    # Everything the page loads comes from this server: no external URL in it or its script.
    _, _, script = request(server, "GET", "/static/app.js")
    for text in (page, script.decode()):
        assert not re.search(r"(src|href)=\"(https?:)?//", text)
        assert "https://" not in text


@pytest.mark.parametrize("path", ["/static/../service.py", "/static/%2e%2e/service.py", "/static/index.html.bak", "/x"])
def test_only_the_shipped_static_files_are_served(ui: tuple[UiServer, Path], path: str) -> None:
    status, _, body = request(ui[0], "GET", path)
    assert status == 404
    assert b"import" not in body


def test_static_files_have_their_types(ui: tuple[UiServer, Path]) -> None:
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
        status, headers, _ = request(ui[0], "GET", f"/static/{name}")
        assert status == 200
        assert headers["content-type"].startswith(kind)


@pytest.mark.parametrize("host", ["evil.example:80", "127.0.0.1", "localhost", "127.0.0.1:1", "attacker.test"])
def test_foreign_host_headers_are_refused(ui: tuple[UiServer, Path], host: str) -> None:
    """DNS rebinding: a page served under another name that resolves to 127.0.0.1 sends its own Host."""
    server, _ = ui
    status, body = api(server, "GET", "/api/state", headers={"Host": host})
    assert status == 421
    assert "Host header" in body["error"]
    status, _ = api(server, "POST", "/api/fit", CHAT, headers={"Host": host})
    assert status == 421


def test_localhost_by_name_is_this_server(ui: tuple[UiServer, Path]) -> None:
    server, _ = ui
    status, body = api(server, "GET", "/api/catalog", headers={"Host": f"localhost:{server.port}"})
    assert status == 200
    assert "llama-3.2-3b-instruct" in {m["key"] for m in body["models"]}


@pytest.mark.parametrize(
    ("headers", "status", "needle"),
    [
        ({"X-CSRF-Token": None}, 403, "X-CSRF-Token"),
        ({"X-CSRF-Token": "wrong"}, 403, "X-CSRF-Token"),
        ({"Origin": "http://evil.example"}, 403, "Origin"),
        ({"Origin": "null"}, 403, "Origin"),
        ({"Sec-Fetch-Site": "cross-site"}, 403, "Sec-Fetch-Site"),
        ({"Sec-Fetch-Site": "same-site"}, 403, "Sec-Fetch-Site"),
        ({"Content-Type": "text/plain"}, 415, "application/json"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "application/json"),
    ],
)
def test_cross_origin_and_tokenless_posts_are_refused(
    ui: tuple[UiServer, Path], headers: dict[str, str], status: int, needle: str
) -> None:
    server, stack_file = ui
    before = stack_file.read_text()
    for path in ("/api/fit", "/api/change", "/api/write", "/api/import"):
        got, body = api(server, "POST", path, {**CHAT, "confirm": True}, headers=headers)
        assert got == status, path
        assert needle in body["error"]
    assert stack_file.read_text() == before


def test_same_origin_posts_are_accepted(ui: tuple[UiServer, Path]) -> None:
    server, _ = ui
    origin = {"Origin": f"http://127.0.0.1:{server.port}", "Sec-Fetch-Site": "same-origin"}
    status, body = api(server, "POST", "/api/fit", CHAT, headers=origin)
    assert status == 200
    assert body["cheapest"] == "a100/blue/a100-1g"


def test_cross_site_reads_of_the_api_are_refused(ui: tuple[UiServer, Path]) -> None:
    status, _ = api(ui[0], "GET", "/api/state", headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 403


def test_non_local_clients_are_refused(ui: tuple[UiServer, Path]) -> None:
    """The server binds 127.0.0.1, so no remote client reaches it; the handler refuses one all the same."""
    server, _ = ui
    handler = Handler.__new__(Handler)
    handler.server = server
    handler.client_address = ("192.0.2.10", 40000)
    handler.headers = {"Host": f"127.0.0.1:{server.port}"}  # type: ignore[assignment]
    handler.path = "/api/state"
    refused = handler._refusal(post=False)
    assert refused is not None
    assert refused[0] == 403
    handler.client_address = ("127.0.0.1", 40000)
    assert handler._refusal(post=False) is None


def test_oversized_and_malformed_bodies(ui: tuple[UiServer, Path]) -> None:
    server, _ = ui
    status, body = api(server, "POST", "/api/fit", raw=b"x" * (server_module.MAX_BODY + 1))
    assert status == 413
    status, body = api(server, "POST", "/api/fit", raw=b"{not json")
    assert (status, body["error"]) == (400, "body is not JSON")
    status, body = api(server, "POST", "/api/fit", raw=b"[1, 2]")
    assert (status, body["error"]) == (400, "body must be a JSON object")
    status, body = api(server, "POST", "/api/fit", {"team": "research"})
    assert status == 400
    assert body["error"].startswith("name: ")


def test_state_is_the_stack_at_a_glance_without_secret_values(ui: tuple[UiServer, Path]) -> None:
    server, _ = ui
    status, headers, payload = request(server, "GET", "/api/state")
    assert status == 200
    assert headers["cache-control"] == "no-store"
    assert b"SECRETCIPHERTEXT" not in payload
    state = json.loads(payload)
    assert state["secrets"] == [{"key": "ai-platform-secrets:huggingFaceToken", "value": "[secret]"}]
    pools = {p["group"]: p for p in state["clusters"][0]["pools"]}
    assert [(s["colour"], s["active"], s["poolName"]) for s in pools["a100"]["slots"]] == [("blue", True, "a100blue")]
    assert {t["name"]: t["profiles"] for t in state["teams"]} == {
        "research": {"a100-1g": 7, "t4-shared": 2},
        "apps": {"t4": 2},
    }
    assert {m["model"] for m in state["models"]} == {"assistant", "research-3b"}
    assert state["cost"]["expectedMonthlyUsd"] > 0
    assert state["cost"]["budgetMonthlyUsd"] == 5000
    assert state["policy"]["mandatory"] == 0
    assert state["policy"]["rules"] > 10


def test_fit_change_write_round_trip(ui: tuple[UiServer, Path]) -> None:
    server, stack_file = ui
    before = stack_file.read_text()
    listing = sorted(p.name for p in stack_file.parent.iterdir())
    status, fit = api(server, "POST", "/api/fit", CHAT)
    assert status == 200
    assert [o["id"] for o in fit["options"] if o["fits"]] == ["a100/blue/a100-1g"]
    status, change = api(server, "POST", "/api/change", CHAT)
    assert status == 200
    assert change["valid"], change["errors"]
    assert "+    chat:\n" in change["diff"]
    assert "+      model: llama-3.2-3b-instruct\n" in change["diff"]
    assert "SECRETCIPHERTEXT" not in change["diff"]
    assert stack_file.read_text() == before  # proposing writes nothing

    status, refused = api(server, "POST", "/api/write", {**CHAT, "baseSha": change["baseSha"]})
    assert status == 400
    assert refused["error"].startswith("confirm: ")
    status, refused = api(server, "POST", "/api/write", {**CHAT, "confirm": True, "baseSha": "0" * 64})
    assert status == 400
    assert refused["error"].startswith("baseSha: ")
    assert stack_file.read_text() == before

    status, written = api(server, "POST", "/api/write", {**CHAT, "confirm": True, "baseSha": change["baseSha"]})
    assert (status, written["written"]) == (200, True)
    after = stack_file.read_text()
    assert after.startswith(before.split("  ai-platform:clusters:")[0])
    assert "SECRETCIPHERTEXT" in after  # the real file keeps its ciphertext
    assert sorted(p.name for p in stack_file.parent.iterdir()) == listing  # nothing else written
    plan = run_plan("dev", stack_file)
    assert plan.exit_code() == 0
    assert "chat" in plan.config.models
    status, state = api(server, "GET", "/api/state")
    assert "chat" in {m["model"] for m in state["models"]}
    # Writing the same change again changes nothing.
    status, again = api(server, "POST", "/api/write", {**CHAT, "confirm": True, "baseSha": state["baseSha"]})
    assert (status, again["written"]) == (200, False)
    stack_file.write_text(before)


def test_invalid_change_is_not_offered_and_errors_name_the_field(ui: tuple[UiServer, Path]) -> None:
    server, stack_file = ui
    bad = {**CHAT, "precision": "int8"}  # no int8 checkpoint in the catalog and no source
    status, change = api(server, "POST", "/api/change", bad)
    assert status == 200
    assert not change["valid"]
    assert list(change["fieldErrors"]) == ["source"]
    assert change["fieldErrors"]["source"][0].startswith("Pulumi.dev.yaml: ai-platform:models.chat.source: ")
    before = stack_file.read_text()
    status, refused = api(server, "POST", "/api/write", {**bad, "confirm": True, "baseSha": change["baseSha"]})
    assert status == 400
    assert "does not validate" in refused["error"]
    assert stack_file.read_text() == before


def test_a_change_that_fits_nowhere_is_refused_at_the_model(ui: tuple[UiServer, Path]) -> None:
    status, change = api(ui[0], "POST", "/api/change", {**CHAT, "model": "llama-3.3-70b-instruct", "precision": "bf16"})
    assert status == 200
    assert not change["valid"]
    assert "" in change["fieldErrors"]
    assert "fits no GPU offer" in change["fieldErrors"][""][0]


def test_import_counts_an_uploaded_config_json(ui: tuple[UiServer, Path]) -> None:
    server, _ = ui
    text = (ROOT / "tests" / "fixtures" / "hf-configs" / "llama-3.1-8b-instruct.json").read_text()
    status, body = api(server, "POST", "/api/import", {"configJson": text})
    assert status == 200
    params = body["params"]
    assert params["parametersBillions"] == pytest.approx(8.03, abs=0.01)
    assert (params["layers"], params["attentionHeads"], params["kvHeads"], params["headDim"]) == (32, 32, 8, 128)
    assert params["maxContext"] == 131072
    status, body = api(server, "POST", "/api/import", {"configJson": "{bad"})
    assert status == 400
    assert body["error"].startswith("config.json: config.json is not JSON")
    status, body = api(server, "POST", "/api/import", {"configJson": '{"model_type": "rwkv"}'})
    assert status == 400
    assert "model_type" in body["error"]


def test_the_page_serves_only_its_own_stack_file(ui: tuple[UiServer, Path]) -> None:
    server, stack_file = ui
    status, change = api(server, "POST", "/api/change", {**CHAT, "stack": "prod", "file": "/etc/passwd"})
    assert status == 200
    assert change["diff"].startswith(f"--- a/{stack_file.name}\n")


# --- the CLI -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "start"),
    [
        (["ui", "dev", "--port", "http"], "--port: must be a TCP port 0-65535 (got 'http')"),
        (["ui", "dev", "--port", "70000"], "--port: must be a TCP port 0-65535 (got '70000')"),
        (["ui", "nosuchstack"], "Pulumi.nosuchstack.yaml: no such stack file"),
        (["ui", "../dev"], "Pulumi.../dev.yaml: stack name '../dev' is not allowed"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], start: str) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(start)


def test_cli_bad_stack_file_is_refused_before_binding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "Pulumi.dev.yaml"
    bad.write_text((ROOT / "Pulumi.dev.yaml").read_text().replace("maxCount: 3", "maxCount: lots"))
    assert main(["ui", "dev", "--config-file", str(bad), "--port", "0"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "ai-platform:clusters.weu1.systemPool.maxCount" in err


def test_cli_port_in_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "Pulumi.dev.yaml"
    shutil.copyfile(ROOT / "Pulumi.dev.yaml", copy)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["ui", "dev", "--config-file", str(copy), "--port", str(port)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == f"--port: cannot listen on 127.0.0.1:{port} (address in use). Fix: pick another --port"


def test_an_unexpected_failure_is_one_line_not_a_dropped_connection(
    ui: tuple[UiServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: StackService, request: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(StackService, "fit", broken)
    status, body = api(ui[0], "POST", "/api/fit", CHAT)
    assert (status, body) == (500, {"error": "internal error (RuntimeError); see the ui terminal"})


def test_host_names_of_the_server() -> None:
    assert allowed_hosts(8080) == {"127.0.0.1:8080", "localhost:8080"}
    assert allowed_hosts(80) == {"127.0.0.1:80", "localhost:80", "127.0.0.1", "localhost"}


HF_CONFIGS = ROOT / "tests" / "fixtures" / "hf-configs"


def test_an_imported_model_fits_changes_and_writes_as_params(ui: tuple[UiServer, Path]) -> None:
    """Upload -> fit -> change -> write: the entry is a params-model, the written file plans, and editing the
    deployment afterwards keeps its params."""
    server, stack_file = ui
    before = stack_file.read_text()
    status, imported = api(
        server, "POST", "/api/import", {"configJson": (HF_CONFIGS / "qwen2.5-7b-instruct.json").read_text()}
    )
    assert status == 200
    assert (imported["key"], imported["source"]) == ("qwen2.5-7b-instruct", "Qwen/Qwen2.5-7B-Instruct")
    qwen = {
        "name": "qwen",
        "team": "research",
        "cluster": "weu1",
        "model": "",
        "params": imported["params"],
        "precision": "int4",
        "source": "Qwen/Qwen2.5-7B-Instruct-AWQ",
        "hfToken": "",
        "contextLength": 4096,
        "concurrency": 4,
        "replicas": 1,
    }
    status, fit = api(server, "POST", "/api/fit", qwen)
    assert status == 200
    assert fit["errors"] == []
    assert fit["entry"]["params"] == imported["params"]
    assert fit["default"] == "a100/blue/a100-1g"
    status, change = api(server, "POST", "/api/change", qwen)
    assert change["valid"], change["errors"]
    assert "+      params:\n+        parametersBillions: 7.62\n+        layers: 28\n" in change["diff"]
    assert "+      source: Qwen/Qwen2.5-7B-Instruct-AWQ\n" in change["diff"]
    assert "model:" not in "".join(line for line in change["diff"].splitlines() if line.startswith("+"))
    status, written = api(server, "POST", "/api/write", {**qwen, "confirm": True, "baseSha": change["baseSha"]})
    assert (status, written["written"]) == (200, True)
    try:
        plan = run_plan("dev", stack_file)
        assert plan.exit_code() == 0
        assert plan.config.models["qwen"].params is not None
        assert plan.config.models["qwen"].params.parameters_billions == 7.62
        status, state = api(server, "GET", "/api/state")
        assert state["modelEntries"]["qwen"]["params"] == imported["params"]
        assert state["modelEntries"]["qwen"]["model"] is None
        # Editing it (what the page's Edit sends, and a client that sends neither model nor params) keeps params.
        edit = {**qwen, "replicas": 2}
        bare = {k: v for k, v in edit.items() if k not in ("model", "params")}
        for request_body in (edit, bare):
            status, change = api(server, "POST", "/api/change", request_body)
            assert change["valid"], change["errors"]
            assert change["entry"]["params"] == imported["params"]
            assert [line for line in change["diff"].splitlines() if line[:1] in "+-" and line[1:3] == "  "] == [
                "-      replicas: 1",
                "+      replicas: 2",
            ]
    finally:
        stack_file.write_text(before)


@pytest.mark.parametrize(
    ("upload", "line"),
    [
        ("{not json", "my-model.json: config.json is not JSON (Expecting property name enclosed in double quotes"),
        (
            '{"model_type": "rwkv"}',
            'my-model.json: model_type: is not an architecture the importer can count (got "rwkv")',
        ),
        (
            '{"model_type": "llama", "hidden_size": 4096}',
            "my-model.json: num_hidden_layers: is missing (got null). Fix: give config.json as published",
        ),
        ("[1, 2]", "my-model.json: config.json must be a JSON object (got list)"),
    ],
    ids=["not-json", "unknown-model-type", "missing-key", "not-an-object"],
)
def test_bad_uploads_get_one_line_naming_the_key(ui: tuple[UiServer, Path], upload: str, line: str) -> None:
    status, body = api(ui[0], "POST", "/api/import", {"configJson": upload, "fileName": "my-model.json"})
    assert status == 400
    assert body["error"].startswith(line)
    assert "\n" not in body["error"]


def test_an_upload_name_that_is_a_path_is_not_echoed(ui: tuple[UiServer, Path]) -> None:
    status, body = api(ui[0], "POST", "/api/import", {"configJson": "{", "fileName": "../../etc/<b>x"})
    assert status == 400
    assert body["error"].startswith("config.json: config.json is not JSON")
