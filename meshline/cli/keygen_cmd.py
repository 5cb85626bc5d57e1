"""``meshline keygen``: a service-token key pair (and an admin key) for compose or Kubernetes."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer

from meshline.service import generate_keypair

PRIVATE_FILE = "service_token.pem"
PUBLIC_FILE = "service_token.pub.pem"
# What compose.yaml requires besides the key pair (it refuses to start without them).
SECRETS = ("MESHLINE_REDIS_PASSWORD", "MESHLINE_METRICS_TOKEN", "MESHLINE_LOCAL_MODEL_API_KEY")


def env_quote(value: str) -> str:
    """A double-quoted dotenv value, newlines escaped as ``\\n`` (docker compose expands them back)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def keygen(
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Write the PEM files into this directory instead of printing .env lines."),
    ] = None,
    admin_key: Annotated[
        bool, typer.Option("--admin-key/--no-admin-key", help="Also print a bootstrap admin API key.")
    ] = True,
) -> None:
    """Print the secrets compose needs as .env lines: `meshline keygen > .env`.

    The service-token key pair, the Redis password, the metrics token, the bundled model server's
    key, and (unless --no-admin-key) a bootstrap admin API key.
    """
    private, public = generate_keypair()
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        private_path = directory / PRIVATE_FILE
        private_path.touch(mode=0o600, exist_ok=False)
        private_path.write_text(private)
        (directory / PUBLIC_FILE).write_text(public)
        typer.echo(f"wrote {private_path} and {directory / PUBLIC_FILE}", err=True)
        return
    typer.echo("# Meshline service-token keys (Ed25519). Keep this file secret; never commit it.")
    typer.echo(f"MESHLINE_TOKEN_PRIVATE_KEY={env_quote(private)}")
    typer.echo(f"MESHLINE_TOKEN_PUBLIC_KEY={env_quote(public)}")
    for name in SECRETS:
        typer.echo(f"{name}={secrets.token_urlsafe(32)}")
    if admin_key:
        typer.echo(f"MESHLINE_ORCHESTRATOR_ADMIN_KEY=ml_admin_{secrets.token_urlsafe(32)}")
