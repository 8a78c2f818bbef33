"""The HTTP server under the service: Hypercorn, set so that no client can take it down.

Hypercorn has the knob this service needs most and uvicorn lacks: its idle timer runs
from the moment a connection opens until a whole request head has arrived, so a
connection that sends nothing, or its head a byte at a time, is closed after
``header_timeout`` seconds (uvicorn starts its keep-alive timer only after a first
response, and counts idle connections against its concurrency limit). Every other bound
is Hypercorn's own setting too; the checks themselves are bounded by the runner.
"""

from __future__ import annotations

import logging
import math
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from hypercorn.config import Config

from leakguard.serve._config import ServeConfig

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["serve", "server_config", "try_listen"]


def server_config(
    config: ServeConfig,
    /,
    *,
    host: str = "127.0.0.1",
    port: int = 8443,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> Config:
    """Hypercorn's settings for the service ``config`` describes."""
    server = Config()
    server.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    server.certfile = certfile
    server.keyfile = keyfile
    # A connection must deliver a whole request head within the header timeout of opening
    # (or of its previous answer); a TLS handshake within the same time.
    server.keep_alive_timeout = config.header_timeout
    server.ssl_handshake_timeout = config.header_timeout
    # Once a request is under way, a client silent for longer than a whole check may take
    # is gone. (The body itself must arrive within the check's deadline: see the app.)
    server.read_timeout = math.ceil(config.deadline + config.header_timeout)
    server.h11_max_incomplete_size = 16 * 1024  # a request head larger than this is refused
    server.max_app_queue_size = 10  # body chunks read ahead per connection (64 KiB each)
    server.backlog = 1024  # a burst of connections waits in the kernel, not refused
    # HTTP/1.1 only: the bounds above are those of its parser (HTTP/2 brings its own).
    server.alpn_protocols = ["http/1.1"]
    server.include_server_header = False
    server.accesslog = None  # request lines may carry the add-in's ?token=
    server.errorlog = logging.getLogger("leakguard.serve.server")
    server.graceful_timeout = 3.0
    return server


def try_listen(host: str, port: int, /) -> None:
    """Raise :class:`OSError` now, before anything is announced, when ``host:port`` cannot
    be listened on (port in use, no permission, not an address of this machine)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        probe.bind(address)


async def serve(
    app: FastAPI, server: Config, /, *, shutdown: Callable[[], Awaitable[Any]] | None = None
) -> None:
    """Serve ``app`` until ``shutdown`` returns (default: until SIGINT or SIGTERM).

    Raises :class:`OSError` when the address cannot be listened on (port in use, no
    permission, address not on this machine)."""
    from hypercorn.asyncio import serve as hypercorn_serve

    await hypercorn_serve(app, server, shutdown_trigger=shutdown, mode="asgi")  # type: ignore[arg-type]
