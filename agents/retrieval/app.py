"""``create_app``: the knowledge agent service (port 8101, manifest name ``knowledge``), on the agent kit."""

from __future__ import annotations

from fastapi import FastAPI

from meshline import __version__
from meshline.agents.kit import create_agent_app
from meshline.agents.retrieval.manifest import manifest
from meshline.agents.retrieval.runtime import RetrievalRuntime
from meshline.agents.retrieval.settings import RetrievalSettings


def create_app(settings: RetrievalSettings | None = None) -> FastAPI:
    settings = settings or RetrievalSettings()
    return create_agent_app(
        settings=settings,
        manifest=manifest(__version__, settings.name),
        handler=RetrievalRuntime(settings).events,
        title="meshline agent knowledge",
    )
