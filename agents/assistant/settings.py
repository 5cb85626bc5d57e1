"""Settings of an assistant agent process (``MESHLINE_ASSISTANT_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from meshline.agents.kit import AgentSettings
from meshline.service import NetworkList


class AssistantSettings(AgentSettings):
    """One process runs one profile; the profile decides which agent it is."""

    model_config = SettingsConfigDict(env_prefix="MESHLINE_ASSISTANT_", extra="ignore")

    name: str = Field(default="", description="Service name; empty means the profile's name (must match).")
    port: int = 8104
    profile: str = Field(
        default="general",
        description="A bundled profile's name (agents/assistant/profiles/<name>.yaml) or a YAML file path.",
    )
    tool_timeout_s: float = Field(default=15.0, gt=0, description="Budget of one tool call.")
    tool_manifest_timeout_s: float = Field(
        default=3.0, gt=0, description="Budget of fetching one tool service's manifest (its tool list)."
    )
    mcp_list_timeout_s: float = Field(default=3.0, gt=0, description="Budget of listing one MCP server's tools.")
    tool_allow_networks: NetworkList = Field(
        default_factory=list,
        description="CIDRs the tool services this agent calls may be at although they are private or special-"
        "purpose (as MESHLINE_ORCHESTRATOR_REGISTRY_ALLOW_NETWORKS): a registered URL whose name is rebound "
        "to another address later is refused on every new connection.",
    )
