"""The local HTTP server of ``python -m stacks ui STACK``: one page, its static files and a small JSON API.

Security model (docs/ui.md):

* it binds to 127.0.0.1 only and answers only loopback clients;
* every request must carry ``Host: 127.0.0.1:<port>`` or ``localhost:<port>`` (DNS rebinding: a page of
  another site that resolves its name to 127.0.0.1 sends its own host name and is refused);
* every POST must be same-origin: ``Origin`` (when sent) equal to this server's origin, ``Sec-Fetch-Site``
  (when sent) ``same-origin`` or ``none``, ``Content-Type: application/json`` (a cross-site HTML form cannot
  send it) and ``X-CSRF-Token`` equal to the per-process token embedded in the page;
* API GETs refuse ``Sec-Fetch-Site: cross-site``/``same-site``;
* responses forbid framing, sniffing, caching and any script, style or connection not from this server
  (Content-Security-Policy), and no value of a secret is ever in a response (``[secret]``);
* the only file it writes is the stack file it was started for, on ``POST /api/write`` with ``confirm: true``.

Endpoints: ``GET /`` (the page), ``GET /static/<file>``, ``GET /api/state``, ``GET /api/catalog``,
``POST /api/fit``, ``POST /api/change``, ``POST /api/write``, ``POST /api/import``.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import json
import secrets
import sys
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from components._common import ConfigError
from stacks.ui.service import RequestError, StackService

STATIC = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png"}
MAX_BODY = 256 * 1024
"""A what-if request is a few hundred bytes, a config.json a few kilobytes."""
BIND_HOST = "127.0.0.1"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def allowed_hosts(port: int) -> set[str]:
    """The ``Host`` values that name this server (browsers leave the default port 80 out)."""
    hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
    return hosts | {"127.0.0.1", "localhost"} if port == 80 else hosts


class UiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, service: StackService, port: int) -> None:
        self.service = service
        self.csrf_token = secrets.token_urlsafe(32)
        super().__init__((BIND_HOST, port), Handler)
        self.port = self.server_address[1]
        self.allowed_hosts = allowed_hosts(self.port)
        self.origins = {f"http://{host}" for host in self.allowed_hosts}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


class Handler(BaseHTTPRequestHandler):
    server: UiServer
    server_version = "ai-platform-ui"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    POSTS: ClassVar[dict[str, str]] = {
        "/api/fit": "fit",
        "/api/change": "change",
        "/api/write": "write",
        "/api/import": "import_",
    }

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"ui: {self.address_string()} {format % args}\n")

    # --- guards --------------------------------------------------------------------------------------
    def _refusal(self, post: bool) -> tuple[HTTPStatus, str] | None:
        try:
            local = ipaddress.ip_address(self.client_address[0]).is_loopback
        except ValueError:
            local = False
        if not local:
            return HTTPStatus.FORBIDDEN, "only local clients (127.0.0.1) may use this page"
        host = self.headers.get("Host", "")
        if host not in self.server.allowed_hosts:
            allowed = ", ".join(sorted(self.server.allowed_hosts))
            return HTTPStatus.MISDIRECTED_REQUEST, f"Host header {host[:80]!r} is not this server (allowed: {allowed})"
        site = self.headers.get("Sec-Fetch-Site")
        api = self.path.startswith("/api/")
        if site is not None and (post or api) and site not in ("same-origin", "none"):
            return HTTPStatus.FORBIDDEN, f"cross-origin request refused (Sec-Fetch-Site: {site[:40]})"
        if not post:
            return None
        origin = self.headers.get("Origin")
        if origin is not None and origin not in self.server.origins:
            return HTTPStatus.FORBIDDEN, f"cross-origin request refused (Origin: {origin[:80]})"
        if (self.headers.get("Content-Type") or "").split(";")[0].strip().lower() != "application/json":
            return HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "POST bodies must be application/json"
        token = self.headers.get("X-CSRF-Token", "")
        if not hmac.compare_digest(token.encode(), self.server.csrf_token.encode()):
            return HTTPStatus.FORBIDDEN, "missing or wrong X-CSRF-Token (reload the page)"
        return None

    # --- responses -----------------------------------------------------------------------------------
    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        for key, value in HEADERS.items():
            self.send_header(key, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: HTTPStatus, value: Any) -> None:
        self._send(status, json.dumps(value).encode("utf-8"), "application/json; charset=utf-8")

    def _error(self, status: HTTPStatus, message: str, **extra: Any) -> None:
        self._json(status, {"error": message, **extra})

    # --- GET -----------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        refused = self._refusal(post=False)
        if refused is not None:
            self._error(*refused)
            return
        path = self.path.split("?", 1)[0]
        try:
            if path == "/":
                self._send(HTTPStatus.OK, self._page(), "text/html; charset=utf-8")
            elif path.startswith("/static/"):
                self._static(path.removeprefix("/static/"))
            elif path == "/api/state":
                self._json(HTTPStatus.OK, self.server.service.state())
            elif path == "/api/catalog":
                self._json(HTTPStatus.OK, {"models": self.server.service.catalog()})
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no such page: {path[:80]}")
        except ConfigError as exc:
            self._error(HTTPStatus.CONFLICT, exc.lines[0], lines=exc.lines)
        except Exception as exc:
            self._internal(exc)

    def _internal(self, exc: Exception) -> None:
        """An unexpected failure: one line to the page, the traceback to the terminal that runs the server."""
        traceback.print_exc(file=sys.stderr)
        self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error ({type(exc).__name__}); see the ui terminal")

    def _page(self) -> bytes:
        page = (STATIC / "index.html").read_text(encoding="utf-8")
        service = self.server.service
        page = page.replace("{{csrf}}", html.escape(self.server.csrf_token, quote=True))
        page = page.replace("{{stack}}", html.escape(service.stack, quote=True))
        page = page.replace("{{file}}", html.escape(service.filename, quote=True))
        return page.encode("utf-8")

    def _static(self, name: str) -> None:
        known = {p.name: p for p in STATIC.iterdir() if p.is_file() and p.suffix in STATIC_TYPES}
        target = known.get(name)
        if target is None:
            self._error(HTTPStatus.NOT_FOUND, f"no such file: {name[:80]}")
            return
        self._send(HTTPStatus.OK, target.read_bytes(), STATIC_TYPES[target.suffix])

    # --- POST ----------------------------------------------------------------------------------------
    def do_POST(self) -> None:
        refused = self._refusal(post=True)
        if refused is not None:
            self.close_connection = True
            self._error(*refused)
            return
        action = self.POSTS.get(self.path)
        if action is None:
            self._error(HTTPStatus.NOT_FOUND, f"no such endpoint: {self.path[:80]}")
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body must be 0-{MAX_BODY} bytes (got {length})")
            return
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            self._error(HTTPStatus.BAD_REQUEST, "body is not JSON")
            return
        if not isinstance(body, dict):
            self._error(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
            return
        try:
            getattr(self, f"_post_{action}")(body)
        except RequestError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
        except ConfigError as exc:
            self._error(HTTPStatus.CONFLICT, exc.lines[0], lines=exc.lines)
        except Exception as exc:
            self._internal(exc)

    def _post_fit(self, body: dict[str, Any]) -> None:
        self._json(HTTPStatus.OK, self.server.service.fit(body))

    def _post_change(self, body: dict[str, Any]) -> None:
        self._json(HTTPStatus.OK, self.server.service.propose(body).to_json())

    def _post_write(self, body: dict[str, Any]) -> None:
        self._json(HTTPStatus.OK, self.server.service.write(body))

    def _post_import_(self, body: dict[str, Any]) -> None:
        text = body.get("configJson")
        if not isinstance(text, str):
            raise RequestError("configJson: the uploaded config.json's text is required")
        name = body.get("fileName")
        self._json(HTTPStatus.OK, self.server.service.import_model(text, name if isinstance(name, str) else None))


def serve(service: StackService, port: int) -> UiServer:
    """A bound server (``port`` 0: any free port); call ``serve_forever`` on it."""
    return UiServer(service, port)
