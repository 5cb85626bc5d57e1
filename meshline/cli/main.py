"""The ``meshline`` command line: start a local mesh, chat with it, check its health."""

from __future__ import annotations

import typer

from meshline.cli.chat_cmd import chat
from meshline.cli.ingest_cmd import ingest
from meshline.cli.keygen_cmd import keygen
from meshline.cli.keys_cmd import keys_app
from meshline.cli.models_cmd import register_models_commands
from meshline.cli.routes_cmd import routes_app
from meshline.cli.services_cmd import deregister, register, services
from meshline.cli.status_cmd import status
from meshline.cli.up_cmd import down, up


def build_app() -> typer.Typer:
    """The Typer application with every command registered."""
    app = typer.Typer(
        name="meshline",
        help="Meshline: a multi-agent LLM orchestrator made of microservices.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.command()(up)
    app.command()(ingest)
    app.command()(down)
    app.command()(chat)
    app.command()(status)
    app.command()(keygen)
    app.command()(register)
    app.command()(services)
    app.command()(deregister)
    register_models_commands(app)
    app.add_typer(routes_app, name="routes")
    app.add_typer(keys_app, name="keys")
    return app


def main() -> None:
    """Console-script entry point."""
    build_app()()
