"""Run the app with uvicorn until Ctrl-C or SIGTERM: uvicorn stops accepting, lets the requests in
flight finish, then raises the signal again, which the command turns into exit 130 / 143 (also where
SIGINT was ignored when the process started, as in a background job: uvicorn still stops on it)."""

from __future__ import annotations

import ipaddress
import signal
import socket

from fsanet.errors import UsageError

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(path) -> str:
    """The API token: the token file's first line, stripped (at least 16 characters)."""
    try:
        token = path.read_text(encoding="utf-8").strip().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--token-file {path}: cannot be read ({getattr(e, 'strerror', None) or e})") from None
    if not token or len(token[0].strip()) < 16:
        raise UsageError(f"--token-file {path}: the token (first line) must have at least 16 characters")
    return token[0].strip()


def check_address(host, port):
    """Refuse an address that cannot be bound before the model loads."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as e:
        raise UsageError(f"--host {host} --port {port}: cannot listen there ({e.strerror or e})") from None


def serve(app, host, port, announce=print):
    import uvicorn
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=30, ws_max_size=16 * 1024 * 1024)
    server = uvicorn.Server(config)
    announce(f"serving on http://{'[' + host + ']' if ':' in host else host}:{port}/ (Ctrl-C stops)")
    server.run()
    if signal.SIGINT in getattr(server, "_captured_signals", ()):  # raised again by uvicorn, and ignored:
        raise KeyboardInterrupt  # a background job of a non-interactive shell starts with SIGINT ignored
