"""``meshline register URL`` / ``services`` / ``deregister NAME``: the registry from the command line.

Registering needs an admin key: ``--key``, ``$MESHLINE_API_KEY``, or the admin key that
``meshline up`` keeps in its home (``.meshline/admin_key``) when run next to the mesh.
"""

from __future__ import annotations

from typing import Annotated

import typer

from meshline.cli.client_options import KeyOption, UrlOption, fail, open_client
from meshline.cli.local_mesh import mesh_home
from meshline.sdk import Client, MeshlineAPIError


def admin_client(url: str | None, key: str | None, timeout: float = 30.0) -> Client:
    """A client with the platform admin's key: the registry's listing is theirs alone."""
    path = mesh_home() / "admin_key"
    if key is None and path.exists():
        key = path.read_text().strip()
    return open_client(url, key, timeout=timeout)


def register(
    service_url: Annotated[
        str,
        typer.Argument(
            help="Base URL of the agent or tool service (e.g. http://127.0.0.1:9300), or an MCP server's "
            "endpoint (e.g. http://127.0.0.1:9310/mcp)"
        ),
    ],
    mcp: Annotated[
        bool, typer.Option("--mcp", help="The URL is an MCP server (found anyway without a manifest).")
    ] = False,
    name: Annotated[str | None, typer.Option(help="Registry name of an MCP server (default: its own name).")] = None,
    no_token: Annotated[
        bool,
        typer.Option(
            "--no-token",
            help="Send the tool service no service token (a third-party server that needs no Meshline identity); "
            "by default each call carries a token valid for that service alone.",
        ),
    ] = False,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Register a running agent or tool service, or an MCP server: usable from the next chat turn."""
    try:
        with admin_client(url, key) as client:
            info = client.services.register(
                service_url, protocol="mcp" if mcp else None, name=name, token_policy="none" if no_token else "own"
            )
    except MeshlineAPIError as exc:
        fail(exc)
    manifest = info.manifest or {}
    tools = [t.get("name") for t in manifest.get("tools", [])]
    over = " over MCP" if manifest.get("protocol") == "mcp" else ""
    over += ", no token" if manifest.get("token_policy") == "none" else ""
    typer.echo(
        f"registered {info.name} ({info.kind}) at {service_url}{over}"
        + (f": tools {', '.join(tools)}" if tools else "")
    )


def services(url: UrlOption = None, key: KeyOption = None) -> None:
    """List registered services, their instances and health."""
    try:
        with admin_client(url, key) as client:
            entries = client.services.list()
    except MeshlineAPIError as exc:
        fail(exc)
    for entry in entries:
        instances = ", ".join(f"{i.url} ({'healthy' if i.healthy else 'unhealthy'})" for i in entry.instances)
        typer.echo(f"{entry.name:<16} {entry.kind:<6} {entry.version:<8} {instances}")


def deregister(
    name: Annotated[str, typer.Argument(help="Service name, as `meshline services` shows it")],
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Remove a service from the registry: no chat turn uses it from then on."""
    try:
        with admin_client(url, key) as client:
            client.services.remove(name)
    except MeshlineAPIError as exc:
        fail(exc)
    typer.echo(f"deregistered {name}")
