"""Base settings of a tool service: its name, port and the URL of its own database."""

from __future__ import annotations

from pydantic import Field

from meshline.service import ServiceSettings


class ToolServiceSettings(ServiceSettings):
    """Subclasses set ``env_prefix = MESHLINE_<SERVICE>_``, ``name`` and ``port``."""

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL (postgresql+psycopg://... at scale); default: a SQLite file under home.",
    )

    sqlite_busy_timeout_ms: int = Field(
        default=5000,
        ge=0,
        le=600_000,
        description="SQLite only: how long a write waits for another process holding the file (this process's "
        "writers take turns without it).",
    )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        path = (self.mesh.home / f"{self.name}.sqlite").resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{path}"
