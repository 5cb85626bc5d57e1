"""The manifest every agent and tool service serves at ``GET /v1/manifest``."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from meshline.json_types import JsonObject

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
Protocol = Literal["meshline", "mcp"]
"""How a tool service is called: the native contract (``POST /v1/tools/{name}``) or MCP (streamable HTTP)."""
TokenPolicy = Literal["own", "none"]
"""What a tool service receives with each call: a service token valid for itself alone (``own``), or none."""


class ToolSpec(BaseModel):
    """One tool of a tool service: JSON Schemas of its input and output."""

    name: str
    description: str = ""
    input_schema: JsonObject = Field(default_factory=lambda: {"type": "object", "properties": {}})
    output_schema: JsonObject = Field(default_factory=dict)
    side_effects: bool = False


class Manifest(BaseModel):
    """What a service is and does; validated by the registry at registration."""

    name: str
    kind: Literal["agent", "tool"]
    version: str = "0.0.0"
    description: str = Field(default="", max_length=2000)
    examples: list[str] = Field(default_factory=list, max_length=200)
    tools: list[ToolSpec] = Field(default_factory=list)
    uses: list[str] = Field(default_factory=list)
    protocol: Protocol = Field(
        default="meshline",
        description="Tool services: how their tools are called. 'mcp' manifests are adapted by the registry "
        "from an MCP server's tool list; the instance URL is then the MCP endpoint.",
    )
    token_policy: TokenPolicy = Field(
        default="own",
        description="Tool services: set by the registration, not by the service. 'own': each call carries a "
        "token whose only audience is this service; 'none': calls carry no token (a third-party server "
        "that needs no Meshline identity).",
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError("name must be lowercase letters, digits, '-' or '_' (max 63), starting with a letter")
        return value
