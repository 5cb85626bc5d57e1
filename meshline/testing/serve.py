"""Serve an ASGI app over real HTTP from a background thread (tests that need a live peer)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

from meshline.cli import free_port


@contextmanager
def serve_in_thread(
    app: ASGIApp,
    *,
    sock: socket.socket | None = None,
    start_after_s: float = 0.0,
    lifespan: Literal["on", "off"] = "off",
) -> Iterator[str]:
    """Yield the base URL of ``app`` served by uvicorn on 127.0.0.1 until the block ends.

    With ``sock``, the server listens on that socket only after ``start_after_s`` (a peer that
    comes up late); otherwise it waits until the server is accepting connections.
    """
    port = sock.getsockname()[1] if sock else free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan=lifespan))

    def run() -> None:
        time.sleep(start_after_s)
        server.run(sockets=[sock] if sock else None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if sock is None:
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the served app did not start")
            time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
