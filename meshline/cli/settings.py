"""The CLI's environment, read in one place: the SDK's variables plus what ``meshline up`` decides on.

``meshline`` reads ``MESHLINE_URL``, ``MESHLINE_API_KEY`` and ``MESHLINE_HOME`` as the SDK does
(:class:`~meshline.sdk.discovery.ClientSettings`); ``meshline up`` also looks at
``MESHLINE_REDIS_URL`` (use that Redis instead of starting one) and ``MESHLINE_LLM_MODEL`` (a
real provider is configured: do not start the bundled model). The services read their own
settings (:mod:`meshline.service.settings`); the CLI passes them on through the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from meshline.sdk import HOME_DIR, ClientSettings


class CliSettings(ClientSettings):
    """``MESHLINE_*`` as the CLI sees it."""

    model_config = SettingsConfigDict(env_prefix="MESHLINE_", extra="ignore")

    redis_url: str | None = None
    llm_model: str | None = None

    def mesh_home(self) -> Path:
        """The local mesh's directory: ``MESHLINE_HOME``, else ``.meshline`` here (absolute)."""
        return (self.home or Path(HOME_DIR)).resolve()
