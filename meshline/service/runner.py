"""Run a service app under uvicorn (each service's ``__main__`` calls this)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from meshline.service.settings import ServiceSettings


def run_service(create_app: Callable[[ServiceSettings], FastAPI], settings: ServiceSettings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    app.state.freeze_heap = True  # a long-lived service process (see freeze_startup_heap)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
