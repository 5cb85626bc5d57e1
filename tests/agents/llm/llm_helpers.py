"""Helpers shared by the LLM layer tests (a module of its own: conftest is not importable by name)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import yaml

RunLlm = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def write_config(path: Path, models: list[dict[str, Any]]) -> Path:
    """A meshline.yaml with these ``models:`` entries."""
    path.write_text(yaml.safe_dump({"models": models}, sort_keys=False))
    return path


def provider_root(fake_llm_url: str) -> str:
    """The fake provider's root (its control endpoints live outside /v1)."""
    return fake_llm_url.removesuffix("/v1")
