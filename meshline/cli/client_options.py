"""Shared by the CLI commands that talk to a running mesh: --url/--key, the client, failing cleanly."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer

from meshline.sdk import Client, MeshlineAPIError

UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Orchestrator URL [default: $MESHLINE_URL, then .meshline/mesh.json]."),
]
KeyOption = Annotated[
    str | None,
    typer.Option("--key", help="API key [default: $MESHLINE_API_KEY, then .meshline/mesh.json].", show_default=False),
]


def open_client(url: str | None, key: str | None, timeout: float = 120.0) -> Client:
    return Client(base_url=url, api_key=key, timeout=timeout)


def describe(exc: MeshlineAPIError) -> str:
    """One line for a failed call, with a hint when the mesh is simply not there."""
    if exc.code == "connect_failed":
        return f"{exc.detail} (is the mesh running? start it with `meshline up`)"
    if exc.code == "missing_api_key":
        return (
            f"{exc.message} (no API key found: run this where `meshline up` runs, so .meshline/mesh.json is found, "
            "or set MESHLINE_URL and MESHLINE_API_KEY)"
        )
    return exc.message


def fail(message: str | MeshlineAPIError) -> NoReturn:
    """Print ``error: ...`` on stderr and exit 1, without a traceback."""
    text = describe(message) if isinstance(message, MeshlineAPIError) else message
    typer.secho(f"error: {text}", err=True, fg=typer.colors.RED)
    raise typer.Exit(1)
