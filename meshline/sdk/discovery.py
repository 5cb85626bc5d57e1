"""Find the mesh: arguments, then ``MESHLINE_URL``/``MESHLINE_API_KEY``, then ``.meshline/mesh.json``.

``meshline up`` writes ``.meshline/mesh.json`` in the directory it runs in; the SDK and CLI find
it from that directory or any directory below it. ``MESHLINE_HOME`` names the ``.meshline``
directory explicitly (then no parent directory is searched).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_URL = "http://127.0.0.1:8000"
HOME_DIR = ".meshline"
MESH_FILE = "mesh.json"


class ClientSettings(BaseSettings):
    """The SDK's environment: ``MESHLINE_URL``, ``MESHLINE_API_KEY``, ``MESHLINE_HOME``."""

    model_config = SettingsConfigDict(env_prefix="MESHLINE_", extra="ignore")

    url: str | None = None
    api_key: SecretStr | None = None
    home: Path | None = None


@dataclass(frozen=True)
class MeshTarget:
    """Where the orchestrator is and the key to use; ``source`` says where the URL came from."""

    url: str
    api_key: str | None
    source: str


def find_mesh_file(start: Path | None = None, home: Path | None = None) -> Path | None:
    """``<home>/mesh.json`` when ``home`` is given, else the nearest ``.meshline/mesh.json`` upwards."""
    if home is not None:
        candidate = home.expanduser() / MESH_FILE
        return candidate if candidate.is_file() else None
    directory = (start or Path.cwd()).resolve()
    for folder in (directory, *directory.parents):
        candidate = folder / HOME_DIR / MESH_FILE
        if candidate.is_file():
            return candidate
    return None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _str_map(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


class MeshFile(BaseModel):
    """What the SDK and CLI read of ``mesh.json`` (``meshline up`` writes more: keys, pids).

    Lenient like the reader it replaced: a field of the wrong type reads as absent.
    """

    model_config = ConfigDict(extra="allow")

    url: Annotated[str | None, BeforeValidator(_str_or_none)] = None
    api_key: Annotated[str | None, BeforeValidator(_str_or_none)] = None
    services: Annotated[dict[str, str], BeforeValidator(_str_map)] = Field(default_factory=dict)


def read_mesh_file(path: Path) -> MeshFile:
    """The mesh file (empty when unreadable: a stale or half-written file is not fatal)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return MeshFile()
    return MeshFile.model_validate(data) if isinstance(data, dict) else MeshFile()


def discover(base_url: str | None = None, api_key: str | None = None, *, cwd: Path | None = None) -> MeshTarget:
    """Resolve the orchestrator URL and API key.

    Each of the two is taken from the first of: the argument, the environment, the mesh file.
    The mesh file's key is only used with the mesh file's own URL, so a local key is never
    sent to another address. Without any of them the URL is ``http://127.0.0.1:8000``.
    """
    env = ClientSettings()
    url, source = base_url, "argument"
    if url is None and env.url:
        url, source = env.url, "environment"
    key = api_key if api_key is not None else (env.api_key.get_secret_value() if env.api_key else None)
    if url is None or key is None:
        path = find_mesh_file(cwd, env.home)
        mesh = read_mesh_file(path) if path is not None else MeshFile()
        mesh_url = mesh.url
        if url is None and mesh_url:
            url, source = mesh_url, str(path)
        if key is None and mesh.api_key is not None and mesh_url and _same_origin(url, mesh_url):
            key = mesh.api_key
    if url is None:
        url, source = DEFAULT_URL, "default"
    return MeshTarget(url=url.rstrip("/"), api_key=key or None, source=source)


def _same_origin(url: str | None, mesh_url: str) -> bool:
    return url is None or url.rstrip("/") == mesh_url.rstrip("/")
