"""``meshline keys create|list|revoke``: API keys from the command line.

Needs a key that manages keys: ``--key``, the admin key ``meshline up`` keeps in its home
(``.meshline/admin_key``) when run next to the mesh, or ``$MESHLINE_API_KEY`` (a tenant admin
key manages its own tenant's keys only).
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from meshline.cli.client_options import KeyOption, UrlOption, fail
from meshline.cli.services_cmd import admin_client
from meshline.contracts import ApiKeyInfo
from meshline.sdk import MeshlineAPIError

keys_app = typer.Typer(help="Mint, list and revoke API keys.", no_args_is_help=True)
_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_duration(text: str) -> int:
    """Seconds in ``3600``, ``90s``, ``15m``, ``12h`` or ``30d``."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise typer.BadParameter(f"{text!r}: give seconds, or a number with s, m, h or d (e.g. 30d)")
    return int(match[1]) * _UNIT_S[match[2]]


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%SZ")


def keys_table(keys: list[ApiKeyInfo]) -> Table:
    table = Table(title="API keys", title_justify="left")
    for column in ("id", "tenant", "user", "scopes", "name", "created", "expires", "limits", "state"):
        table.add_column(column, no_wrap=True)
    for key in keys:
        style = {"active": "green", "expired": "yellow", "revoked": "red"}[key.state]
        table.add_row(
            key.id,
            key.tenant,
            key.user or "",
            " ".join(key.scopes),
            key.name,
            _when(key.created_at),
            _when(key.expires_at),
            _limits(key),
            f"[{style}]{key.state}[/]",
        )
    return table


def _limits(key: ApiKeyInfo) -> str:
    """The key's own limits ("" when it has the defaults)."""
    parts = [f"{key.rate_limit_rps:g}/s"] if key.rate_limit_rps is not None else []
    if key.max_concurrent_turns is not None:
        parts.append(f"{key.max_concurrent_turns} turns")
    return " ".join(parts)


def _console() -> Console:
    # Piped (scripts, CI logs): wide enough that no row is cut or wrapped; a terminal uses its own width.
    return Console() if sys.stdout.isatty() else Console(width=1000)


@keys_app.command()
def create(
    tenant: Annotated[str | None, typer.Option(help="Tenant of the key (default: the caller's own).")] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="chat, ingest, act_as_user, tenant_admin or admin; repeat for more."),
    ] = None,
    user: Annotated[str | None, typer.Option(help="Bind the key to one end user.")] = None,
    name: Annotated[str | None, typer.Option(help="What the key is for.")] = None,
    ttl: Annotated[str | None, typer.Option(help="Expire after this long: seconds, or 15m, 12h, 30d.")] = None,
    expires_at: Annotated[
        datetime | None, typer.Option(help="Expire at this UTC time.", formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"])
    ] = None,
    rate_limit: Annotated[
        float | None, typer.Option(help="Requests per second this key may make (default: the mesh's per-key limit).")
    ] = None,
    max_turns: Annotated[
        int | None, typer.Option(help="Chat turns this key may run at once (default: the mesh's per-key limit).")
    ] = None,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Mint a key and print its secret (shown this once)."""
    ttl_s = parse_duration(ttl) if ttl is not None else None
    when = expires_at.replace(tzinfo=UTC) if expires_at else None
    try:
        with admin_client(url, key) as client:
            created = client.keys.create(
                tenant,
                scope or ["chat"],
                user,
                name,
                expires_at=when,
                ttl_s=ttl_s,
                rate_limit_rps=rate_limit,
                max_concurrent_turns=max_turns,
            )
    except MeshlineAPIError as exc:
        fail(exc)
    typer.echo(created.key)
    typer.echo(
        f"id {created.id}, tenant {created.tenant}, scopes {' '.join(created.scopes)}"
        + (f", user {created.user}" if created.user else "")
        + (f", expires {_when(created.expires_at)}" if created.expires_at else "")
        + (f", limits {_limits(created)}" if _limits(created) else "")
        + ". The key is shown this once.",
        err=True,
    )


@keys_app.command("list")
def list_keys(
    tenant: Annotated[str | None, typer.Option(help="Platform admin: only this tenant's keys.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Also revoked and expired keys.")] = False,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """List keys (never their secrets): the caller's tenant, or every tenant for the platform admin."""
    try:
        with admin_client(url, key) as client:
            keys = client.keys.list(tenant, include_inactive=all_)
    except MeshlineAPIError as exc:
        fail(exc)
    _console().print(keys_table(keys))


@keys_app.command()
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id, as `meshline keys list` shows it.")],
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Revoke a key: refused by every orchestrator replica within seconds."""
    try:
        with admin_client(url, key) as client:
            client.keys.revoke(key_id)
    except MeshlineAPIError as exc:
        fail(exc)
    typer.echo(f"revoked {key_id}")
