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


def chat(text: str, model: str = "default", **extra: Any) -> dict[str, Any]:
    """A chat.completions body with one user message."""
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def served_by(response: httpx.Response) -> str:
    """``alias@version`` that answered a completion."""
    assert response.status_code == 200, response.text
    return response.headers["x-meshline-model-version"]


def admin_headers(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample in ``/metrics`` output (0 when absent)."""
    pairs = [f'{k}="{v}"' for k, v in labels.items()]
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(p in line.split("}")[0] for p in pairs):
            return float(line.rsplit(" ", 1)[1])
        if not labels and line.startswith(f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
