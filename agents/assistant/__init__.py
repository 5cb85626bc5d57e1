"""The assistant agent runtime: one tool-calling runtime, made into agents by profiles (profiles/*.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshline.exports import lazy_exports

if TYPE_CHECKING:
    from meshline.agents.assistant.profile import PROFILES_DIR, load_profile

__all__ = ["PROFILES_DIR", "load_profile"]
__getattr__ = lazy_exports(
    __name__, {"PROFILES_DIR": "meshline.agents.assistant.profile", "load_profile": "meshline.agents.assistant.profile"}
)
