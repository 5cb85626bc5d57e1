"""Base settings of a tool service: its name, port and the URL of its own database."""

from __future__ import annotations

from pydantic import Field

from meshline.service.settings import ServiceSettings


class ToolServiceSettings(ServiceSettings):
    """Subclasses set ``env_prefix = MESHLINE_<SERVICE>_``, ``name`` and ``port``."""

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL (postgresql+psycopg://... at scale); default: a SQLite file under home.",
    )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        path = (self.mesh.home / f"{self.name}.sqlite").resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{path}"
