"""``meshline models`` (list, deploy, promote, rollback) and ``meshline usage``, through the orchestrator."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from meshline.cli.client_options import KeyOption, UrlOption, fail, open_client
from meshline.contracts import RegistryListing, UsageReport, UsageRow
from meshline.json_types import JsonObject
from meshline.sdk import MeshlineAPIError

models_app = typer.Typer(help="Model aliases, versions and canaries (admin key).", invoke_without_command=True)


def _call(url: str | None, key: str | None, method: str, path: str, body: JsonObject | None = None) -> JsonObject:
    try:
        with open_client(url, key, timeout=30.0) as client:
            payload: JsonObject = client._request(method, path, json=body).json()
    except MeshlineAPIError as exc:
        fail(exc)
    return payload


def _listing(url: str | None, key: str | None, method: str, path: str, body: JsonObject | None = None) -> Table:
    return models_table(RegistryListing.model_validate(_call(url, key, method, path, body)))


def models_table(listing: RegistryListing) -> Table:
    """One row per version: weight, status, models, last-minute health, note."""
    table = Table(title=f"models (registry revision {listing.revision})", title_justify="left")
    for column in ("alias", "version", "status", "weight", "model", "calls/min", "errors", "latency", "note"):
        table.add_column(column)
    for alias in listing.aliases:
        for version in alias.versions:
            health = version.health.last_minute
            style = {"stable": "green", "canary": "yellow", "rolled_back": "red"}.get(version.status, "dim")
            table.add_row(
                alias.alias,
                version.version,
                f"[{style}]{version.status}[/]",
                f"{version.weight}%",
                ", ".join(d.model for d in version.deployments),
                str(health.requests),
                f"{health.error_rate:.0%}",
                f"{health.mean_latency_ms:.0f} ms",
                version.note or ("cooling down" if version.cooling_down_s else ""),
            )
    return table


@models_app.callback()
def models(ctx: typer.Context, url: UrlOption = None, key: KeyOption = None) -> None:
    """List aliases with their versions, weights and health (when no subcommand is given)."""
    if ctx.invoked_subcommand is None:
        Console().print(_listing(url, key, "GET", "/v1/admin/models"))


@models_app.command()
def deploy(
    alias: str,
    version: Annotated[str, typer.Option("--version", help="New version name, e.g. v2.")],
    model: Annotated[str, typer.Option("--model", help="litellm model string.")],
    canary: Annotated[int, typer.Option("--canary", min=0, max=100, help="Percent of traffic.")] = 10,
    api_base: Annotated[str | None, typer.Option("--api-base")] = None,
    system_prompt: Annotated[str | None, typer.Option("--system-prompt")] = None,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Deploy VERSION of ALIAS as a canary with --canary percent of traffic."""
    body: JsonObject = {
        "version": version,
        "model": model,
        "canary": canary,
        "api_base": api_base,
        "system_prompt": system_prompt,
    }
    Console().print(_listing(url, key, "POST", f"/v1/admin/models/{alias}/deploy", body))


@models_app.command()
def promote(alias: str, version: str, url: UrlOption = None, key: KeyOption = None) -> None:
    """Make VERSION the stable version of ALIAS, with all the traffic."""
    Console().print(_listing(url, key, "POST", f"/v1/admin/models/{alias}/promote", {"version": version}))


@models_app.command()
def rollback(alias: str, url: UrlOption = None, key: KeyOption = None) -> None:
    """Take ALIAS's canary out of traffic, or return to its previous stable version."""
    Console().print(_listing(url, key, "POST", f"/v1/admin/models/{alias}/rollback"))


def usage(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Another tenant (admin key).")] = None,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Tokens and cost per agent, alias and version."""
    path = "/v1/usage" + (f"?tenant={tenant}" if tenant else "")
    report = UsageReport.model_validate(_call(url, key, "GET", path))
    Console().print(usage_table(report))


def usage_table(report: UsageReport) -> Table:
    """One row per (agent, alias, version), then the totals."""
    table = Table(title=f"usage of tenant {report.tenant}", title_justify="left")
    for column in ("agent", "alias", "version", "requests", "cache hits", "prompt", "completion", "cost (USD)"):
        table.add_column(column, justify="right" if column not in ("agent", "alias", "version") else "left")
    total = UsageRow(agent="total", alias="", version="", **report.total.model_dump())
    for row in [*report.rows, total]:
        table.add_row(
            row.agent,
            row.alias,
            row.version,
            str(row.requests),
            str(row.cache_hits),
            str(row.prompt_tokens),
            str(row.completion_tokens),
            f"{row.cost_usd:.6f}",
        )
    return table


def register_models_commands(app: typer.Typer) -> None:
    """Add ``models`` (with its subcommands) and ``usage`` to the ``meshline`` command."""
    app.add_typer(models_app, name="models")
    app.command()(usage)
