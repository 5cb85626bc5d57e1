"""``meshline status``: is the orchestrator ready, and is every registered service healthy?"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

from meshline.cli.client_options import KeyOption, UrlOption, fail
from meshline.cli.services_cmd import admin_client
from meshline.sdk import MeshFile, MeshlineAPIError, Readiness, ServiceInfo, find_mesh_file, read_mesh_file

# Processes of a local mesh that the registry does not hold (fixed addresses, not agents or tools).
READY_PATHS = {"local-model": "/v1/models"}
# Files under the mesh's home holding the key a process answers only to (its readiness probe sends it).
READY_KEY_FILES = {"local-model": "local_model_key"}


def ready_headers(home: Path, name: str) -> dict[str, str]:
    key_file = READY_KEY_FILES.get(name)
    if key_file is None or not (home / key_file).exists():
        return {}
    return {"authorization": f"Bearer {(home / key_file).read_text().strip()}"}


def local_infrastructure(base_url: str, registered: set[str], timeout: float) -> dict[str, str | None]:
    """Readiness of the infrastructure ``meshline up`` started for this mesh: name -> None or why not."""
    path = find_mesh_file()
    mesh = read_mesh_file(path) if path is not None else MeshFile()
    if (mesh.url or "").rstrip("/") != base_url.rstrip("/"):
        return {}
    results: dict[str, str | None] = {}
    with httpx.Client(timeout=timeout) as http:
        for name, url in mesh.services.items():
            if name == "orchestrator" or name in registered:
                continue
            try:
                headers = ready_headers(path.parent, name) if path is not None else {}
                response = http.get(f"{url}{READY_PATHS.get(name, '/readyz')}", headers=headers)
                results[name] = None if response.status_code == 200 else f"answered {response.status_code}"
            except httpx.HTTPError as exc:
                results[name] = f"unreachable: {type(exc).__name__}"
    return results


def service_state(service: ServiceInfo) -> tuple[str, str]:
    """(state, rich style) of a service from its instances' health."""
    total, healthy = len(service.instances), service.healthy_count
    if total == 0:
        return "no instances", "red"
    if healthy == total:
        return "healthy", "green"
    return ("degraded", "yellow") if healthy else ("down", "red")


BREAKER_STYLE = {"closed": "green", "half_open": "yellow", "open": "red"}


def protection(service: ServiceInfo) -> tuple[str, str]:
    """(breaker, calls in flight / bulkhead size) cells; tools are guarded by their callers, not here."""
    if service.breaker is None:
        return "-", "-"
    style = BREAKER_STYLE.get(service.breaker, "red")
    limit = f"/{service.max_concurrent}" if service.max_concurrent else ""
    return f"[{style}]{service.breaker}[/]", f"{service.in_flight}{limit}"


def build_table(
    url: str, readiness: Readiness, services: list[ServiceInfo], infrastructure: dict[str, str | None]
) -> Table:
    table = Table(title=f"meshline at {url}", title_justify="left")
    for column in ("service", "kind", "instances", "healthy", "state", "breaker", "in flight"):
        table.add_column(column, no_wrap=column != "instances", min_width=12 if column == "instances" else None)
    ready_style = "green" if readiness.ready else "red"
    table.add_row(
        "orchestrator",
        "gateway",
        url,
        "1/1" if readiness.ready else "0/1",
        f"[{ready_style}]{'ready' if readiness.ready else 'not ready'}[/]",
        "-",
        "-",
    )
    for name, problem in infrastructure.items():
        state = "[green]ready[/]" if problem is None else "[red]not ready[/]"
        table.add_row(name, "infrastructure", "local", "1/1" if problem is None else "0/1", state, "-", "-")
    for service in services:
        state, style = service_state(service)
        instances = "\n".join(i.url if i.healthy else f"{i.url} [red]✗[/]" for i in service.instances) or "-"
        healthy = f"{service.healthy_count}/{len(service.instances)}"
        table.add_row(service.name, service.kind, instances, healthy, f"[{style}]{state}[/]", *protection(service))
    return table


def problems(readiness: Readiness, services: list[ServiceInfo], infrastructure: dict[str, str | None]) -> list[str]:
    """Why something is not healthy, one line each."""
    lines = [f"orchestrator check {name}: {result}" for name, result in readiness.checks.items() if result != "ok"]
    lines.extend(f"{name}: {problem}" for name, problem in infrastructure.items() if problem is not None)
    for service in services:
        lines.extend(
            f"{service.name} at {i.url}: {i.last_error or 'unhealthy'}" for i in service.instances if not i.healthy
        )
        if service.breaker not in (None, "closed"):
            lines.append(f"{service.name}: circuit breaker {service.breaker}")
    return lines


def status(
    url: UrlOption = None,
    key: KeyOption = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for each answer.")] = 10.0,
) -> None:
    """Show the mesh's health; exit 0 only when the orchestrator is ready and every service is healthy."""
    # Piped (CI logs, scripts): wide enough for every column; a terminal wraps to its own width.
    console = Console() if sys.stdout.isatty() else Console(width=140)
    with admin_client(url, key, timeout) as client:  # the registry's health is the platform admin's to see
        try:
            readiness = client.readiness()
            services = client.services.list()
        except MeshlineAPIError as exc:
            fail(exc)
        base_url = client.base_url
    infrastructure = local_infrastructure(base_url, {s.name for s in services}, timeout)
    console.print(build_table(base_url, readiness, services, infrastructure))
    for line in problems(readiness, services, infrastructure):
        console.print(f"[red]•[/] {line}", highlight=False)
    healthy = (
        readiness.ready
        and all(service_state(s)[0] == "healthy" and s.breaker in (None, "closed") for s in services)
        and all(problem is None for problem in infrastructure.values())
    )
    raise typer.Exit(0 if healthy else 1)
