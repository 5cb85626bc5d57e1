"""``meshline routes eval|fit|reset``: measure and teach the running mesh's router (admin key).

All three go through the orchestrator's routing admin API (``/v1/routes/...``); the scoring is
the evaluation helpers of :mod:`meshline.orchestrator.routing`, the same code bench/routing.py uses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from meshline.cli.client_options import KeyOption, UrlOption, fail
from meshline.cli.services_cmd import admin_client
from meshline.json_types import JsonObject
from meshline.orchestrator import (
    LabelError,
    LabelledMessage,
    Outcome,
    fit_selection,
    load_labelled,
    load_labels,
    score,
)
from meshline.sdk import MeshlineAPIError

routes_app = typer.Typer(help="Evaluate and teach the router on labelled messages (admin key).", no_args_is_help=True)

CsvArgument = Annotated[Path, typer.Argument(help="CSV with the columns 'utterance' and 'intent'.")]
LabelsOption = Annotated[
    Path, typer.Option("--labels", help="JSON mapping intent -> agent (optionally under 'intents').")
]


def _labelled(file: Path, labels: Path) -> list[LabelledMessage]:
    try:
        messages = load_labelled(file, load_labels(labels))
    except LabelError as exc:
        fail(str(exc))
    if not messages:
        fail(f"{file} has no messages")
    return messages


def _report_tables(report: JsonObject) -> list[Table]:
    agents = Table(title="per agent", title_justify="left")
    for column in ("agent", "precision", "recall", "messages"):
        agents.add_column(column, justify="left" if column == "agent" else "right")
    for agent, row in report["per_agent"].items():
        agents.add_row(agent, f"{row['precision']:.3f}", f"{row['recall']:.3f}", str(row["support"]))
    decided = sorted({d for row in report["confusion"].values() for d in row})
    confusion = Table(title="confusion (rows: expected, columns: routed to)", title_justify="left")
    confusion.add_column("expected")
    for name in decided:
        confusion.add_column(name, justify="right")
    for expected, row in report["confusion"].items():
        confusion.add_row(expected, *[str(row.get(name, 0)) for name in decided])
    return [agents, confusion]


@routes_app.command("eval")
def evaluate(
    file: CsvArgument,
    labels: LabelsOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="The examples stage alone: never ask the LLM.")] = False,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Route every labelled message (nothing is dispatched) and score the decisions."""
    messages = _labelled(file, labels)
    outcomes: list[Outcome] = []
    threshold: float | None = None
    try:
        with admin_client(url, key) as client:
            for message in messages:
                body = {"message": message.text, "use_llm": not no_llm}
                decision = client._request("POST", "/v1/routes/decide", json=body).json()
                threshold = decision.get("threshold", threshold)
                outcomes.append(
                    Outcome(
                        expected=message.agent,
                        agents=tuple(decision["route"]["agents"]),
                        llm_called=decision["llm_called"],
                        confidence=decision["examples_confidence"],
                        latency_ms=decision["latency_ms"],
                    )
                )
    except MeshlineAPIError as exc:
        fail(exc)
    report = score(outcomes, threshold=threshold)
    if as_json:
        typer.echo(json.dumps(report))
        return
    console = Console()
    console.print(
        f"{report['messages']} messages: accuracy [bold]{report['accuracy']:.3f}[/], "
        f"decided without an LLM call {report['decided_without_llm']:.1%}, "
        f"routing latency p50 {report['p50_ms']:.1f} ms, p99 {report['p99_ms']:.1f} ms"
    )
    if threshold is not None:
        console.print(
            f"below the confidence threshold ({threshold}): {report['below_threshold_share']:.1%}; "
            f"accuracy above it {report['accuracy_above_threshold']:.3f}"
        )
    for table in _report_tables(report):
        console.print(table)


@routes_app.command()
def fit(
    file: CsvArgument,
    labels: LabelsOption,
    max_per_agent: Annotated[
        int, typer.Option("--max-per-agent", min=1, help="Examples sent per agent (the mesh caps them too).")
    ] = 200,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Add the labelled messages as routing examples (deduplicated, capped per agent, intents in turn)."""
    selection = fit_selection(_labelled(file, labels), max_per_agent)
    try:
        with admin_client(url, key) as client:
            result = client._request("POST", "/v1/routes/examples", json={"examples": selection}).json()
    except MeshlineAPIError as exc:
        fail(exc)
    for agent, count in sorted(result["examples"].items()):
        typer.echo(f"{agent:<16} +{result['added'].get(agent, 0):<5} {count} examples")


@routes_app.command()
def reset(url: UrlOption = None, key: KeyOption = None) -> None:
    """Forget every fitted example: back to the agents' own (profile) examples."""
    try:
        with admin_client(url, key) as client:
            client._request("DELETE", "/v1/routes/examples")
    except MeshlineAPIError as exc:
        fail(exc)
    typer.echo("routing examples reset to the agents' own")
