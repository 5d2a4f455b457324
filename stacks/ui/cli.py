"""The ``ui`` subcommand: check the options and the stack, bind 127.0.0.1, serve until Ctrl+C."""

from __future__ import annotations

import errno
import sys
from pathlib import Path

from components._common import ConfigError
from stacks.ui.server import serve
from stacks.ui.service import StackService

DEFAULT_PORT = 8080


def parse_port(text: str) -> int:
    """``--port``: 0 (any free port) to 65535, refused with one line naming the option."""
    value = text.strip()
    if not value.isdigit() or int(value) > 65535:
        raise ConfigError([f"--port: must be a TCP port 0-65535 (got {text!r}). Fix: e.g. --port 8080"])
    return int(value)


def run(stack: str, port_text: str, config_file: str | None = None) -> int:
    """Start the page for ``stack``; exit 2 with one line on bad input (nothing is bound or written)."""
    try:
        port = parse_port(port_text)
        service = StackService(stack, config_file)
    except ConfigError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        return 2
    try:
        server = serve(service, port)
    except OSError as exc:
        service.close()
        reason = "address in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        print(f"--port: cannot listen on 127.0.0.1:{port} ({reason}). Fix: pick another --port", file=sys.stderr)
        return 2
    print(f"Serving stack {stack} ({Path(service.path).name}) at {server.url}  (Ctrl+C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        service.close()
    return 0
