"""Run a service app under uvicorn (each service's ``__main__`` calls this)."""

from __future__ import annotations

from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from meshline.service.logs import configure_logging
from meshline.service.settings import ServiceSettings


def run_service(create_app: Callable[[ServiceSettings], FastAPI], settings: ServiceSettings) -> None:
    """Configure logging (``MESHLINE_LOG_FORMAT``), build the app and serve it until stopped."""
    configure_logging(settings.name, settings.mesh.log_format)
    app = create_app(settings)
    app.state.freeze_heap = True  # a long-lived service process (see freeze_startup_heap)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        # No config of uvicorn's own: its loggers propagate to the root handler, so its lines
        # carry the service name and come out in the same format as everything else.
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
