"""RFC 9457 problem details, the body of every error response in the mesh."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from meshline.json_types import JsonObject


class ProblemDetails(BaseModel):
    """``application/problem+json`` body, with Meshline's ``code`` and ``retryable`` extensions."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    code: str = "error"
    retryable: bool = False
    instance: str | None = None
    trace_id: str | None = None
    errors: list[JsonObject] | None = None
