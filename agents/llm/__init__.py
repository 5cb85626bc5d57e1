"""The LLM layer: an OpenAI-compatible API over a litellm router of the mesh's model deployments."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshline.exports import lazy_exports

if TYPE_CHECKING:
    from meshline.agents.llm.app import create_app
    from meshline.agents.llm.settings import LlmSettings

__all__ = ["LlmSettings", "create_app"]
__getattr__ = lazy_exports(
    __name__, {"LlmSettings": "meshline.agents.llm.settings", "create_app": "meshline.agents.llm.app"}
)
