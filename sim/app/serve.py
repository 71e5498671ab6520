"""Serving the dashboard: Solara's app under uvicorn in this process, open only to its own page.

Only `sim dashboard` imports this module; it imports Solara inside `serve`,
after setting Solara's environment, so that

- nothing calls out: no telemetry, no check for a newer Solara, and the CDN
  proxy serves only the assets installed with `solara-assets`;
- a page that went away without closing keeps its session for SESSION_TIMEOUT,
  not Solara's default 24 hours;
- websockets are accepted only from the served origin, so another web site the
  user visits cannot drive the dashboard;
- the port is bound before anything starts (a bad or busy port is one line),
  and SIGTERM stops the server as Ctrl-C does, with nothing left running.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import signal
import socket
import sys
import threading
import warnings
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

from sim.errors import UserError

SESSION_TIMEOUT = "2m"  # how long a page that lost its connection may come back to its session
SHUTDOWN_GRACE = 5  # seconds open pages get to close when the server stops

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Any
]


def check_address(host: str, port: int) -> None:
    """A port from 1 to 65535 and a host that is a name or an address (not yet resolved)."""
    if not 1 <= port <= 65535:
        raise UserError(f"expected a port from 1 to 65535, found {port}", field="--port")
    if not host or len(host) > 253 or any(c.isspace() or not c.isprintable() for c in host):
        raise UserError(f"expected a host name or address, found {host[:60]!r}", field="--host")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on HOST:PORT, or the reason there cannot be one as a user error."""
    check_address(host, port)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise UserError(f"cannot resolve host {host!r}: {exc}", field="--host") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        reason = {
            errno.EADDRINUSE: f"port {port} is already in use on {host}; choose another with --port",
            errno.EACCES: f"not allowed to listen on port {port} (ports below 1024 need privileges)",
            errno.EADDRNOTAVAIL: f"{host} is not an address of this machine",
        }.get(exc.errno or 0, f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        raise UserError(
            reason, field="--port" if exc.errno in (errno.EADDRINUSE, errno.EACCES) else "--host"
        ) from None
    sock.set_inheritable(True)
    return sock


def _url_host(host: str) -> str:
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def origins(host: str, port: int) -> set[str]:
    """The origins of the page this server serves (the loopback names stand for each other)."""
    loopback = {"127.0.0.1", "localhost", "::1"}
    names = {host} | (loopback if host in loopback or host in ("0.0.0.0", "::") else set())
    return {f"http://{_url_host(name)}:{port}" for name in names}


class OriginCheck:
    """ASGI middleware: refuse a websocket whose Origin is not the served page's.

    Browsers send Origin with every websocket and scripts cannot forge it, so
    this keeps other web sites the user visits from driving the dashboard.
    Listening on all interfaces (0.0.0.0), the page's own origin is whatever
    name it was reached by, so there the Origin must match the Host header.
    """

    def __init__(self, app: ASGIApp, host: str, port: int):
        self.app = app
        self.allowed = origins(host, port)
        self.any_interface = host in ("0.0.0.0", "::")

    def allows(self, scope: MutableMapping[str, Any]) -> bool:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        origin = headers.get("origin")
        if origin in self.allowed:
            return True
        return self.any_interface and origin is not None and origin == f"http://{headers.get('host')}"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "websocket" and not self.allows(scope):
            origin = dict(scope.get("headers", [])).get(b"origin", b"none").decode("latin-1")
            print(
                f"sim dashboard: refused a websocket from origin {origin[:80]!r}", file=sys.stderr, flush=True
            )
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})  # answered with HTTP 403
            return
        await self.app(scope, receive, send)


def solara_environment(scenario: str) -> dict[str, str]:
    """The environment Solara reads when imported: our app, production mode, nothing that calls out."""
    return {
        "SIM_DASHBOARD_SCENARIO": scenario,
        "SOLARA_APP": "sim.app.dashboard",
        "SOLARA_MODE": "production",
        "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "false",
        # the proxy answers from the assets installed with solara-assets; a missing one is a 404,
        # not a download (requests refuses this scheme before any connection)
        "SOLARA_ASSETS_CDN": "offline://",
        "SOLARA_KERNEL_CULL_TIMEOUT": os.environ.get("SOLARA_KERNEL_CULL_TIMEOUT", SESSION_TIMEOUT),
    }


def serve(sock: socket.socket, host: str, port: int, scenario: str) -> None:
    """Serve the dashboard on the bound socket until Ctrl-C or SIGTERM; return when it has stopped."""
    os.environ.update(solara_environment(scenario))
    import solara.server.settings as settings
    import solara.settings
    import uvicorn

    # the same settings again, in case Solara was imported before the environment was set
    settings.main.mode = "production"
    settings.telemetry.mixpanel_enable = False
    settings.kernel.cull_timeout = os.environ["SOLARA_KERNEL_CULL_TIMEOUT"]
    solara.settings.assets.cdn = os.environ["SOLARA_ASSETS_CDN"]

    from solara.server.starlette import app as solara_app

    # plain http on this machine is the point here, not a misconfigured proxy
    warnings.filterwarnings(
        "ignore", message="Cookies with samesite=none require https", category=UserWarning
    )

    config = uvicorn.Config(
        OriginCheck(solara_app, host, port),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
        ws_max_size=4 * 1024 * 1024,
    )
    _quiet_stop_server(uvicorn.Server)(config).run(sockets=[sock])


def _quiet_stop_server(base: type) -> type:
    """uvicorn's Server, stopping on SIGINT and SIGTERM without re-raising the signal afterwards.

    uvicorn re-raises the signal that stopped it once it has shut down, which
    turns a clean stop into an exit by signal (or a KeyboardInterrupt); here a
    stop is a return.
    """

    class Server(base):  # type: ignore[misc, valid-type]
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server
