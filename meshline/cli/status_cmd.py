"""``meshline status``: is the orchestrator ready, and is every registered service healthy?"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from meshline.cli.client_options import KeyOption, UrlOption, fail, open_client
from meshline.sdk import MeshlineAPIError, Readiness, ServiceInfo


def service_state(service: ServiceInfo) -> tuple[str, str]:
    """(state, rich style) of a service from its instances' health."""
    total, healthy = len(service.instances), service.healthy_count
    if total == 0:
        return "no instances", "red"
    if healthy == total:
        return "healthy", "green"
    return ("degraded", "yellow") if healthy else ("down", "red")


def build_table(url: str, readiness: Readiness, services: list[ServiceInfo]) -> Table:
    table = Table(title=f"meshline at {url}", title_justify="left")
    for column in ("service", "kind", "instances", "healthy", "state"):
        table.add_column(column, no_wrap=column != "instances")
    ready_style = "green" if readiness.ready else "red"
    table.add_row(
        "orchestrator",
        "gateway",
        url,
        "1/1" if readiness.ready else "0/1",
        f"[{ready_style}]{'ready' if readiness.ready else 'not ready'}[/]",
    )
    for service in services:
        state, style = service_state(service)
        instances = "\n".join(i.url if i.healthy else f"{i.url} [red]✗[/]" for i in service.instances) or "-"
        healthy = f"{service.healthy_count}/{len(service.instances)}"
        table.add_row(service.name, service.kind, instances, healthy, f"[{style}]{state}[/]")
    return table


def problems(readiness: Readiness, services: list[ServiceInfo]) -> list[str]:
    """Why something is not healthy, one line each."""
    lines = [f"orchestrator check {name}: {result}" for name, result in readiness.checks.items() if result != "ok"]
    for service in services:
        lines.extend(
            f"{service.name} at {i.url}: {i.last_error or 'unhealthy'}" for i in service.instances if not i.healthy
        )
    return lines


def status(
    url: UrlOption = None,
    key: KeyOption = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for each answer.")] = 10.0,
) -> None:
    """Show the mesh's health; exit 0 only when the orchestrator is ready and every service is healthy."""
    console = Console()
    with open_client(url, key, timeout=timeout) as client:
        try:
            readiness = client.readiness()
            services = client.services.list()
        except MeshlineAPIError as exc:
            fail(exc)
        base_url = client.base_url
    console.print(build_table(base_url, readiness, services))
    for line in problems(readiness, services):
        console.print(f"[red]•[/] {line}", highlight=False)
    healthy = readiness.ready and all(service_state(s)[0] == "healthy" for s in services)
    raise typer.Exit(0 if healthy else 1)
