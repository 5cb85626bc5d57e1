"""``meshline chat``: one message streamed to stdout, or an interactive session."""

from __future__ import annotations

from typing import Annotated

import typer

from meshline.cli.client_options import KeyOption, UrlOption, describe, fail, open_client
from meshline.contracts import ChatResponse, DeltaEvent, DoneEvent, ResetEvent, ToolEvent
from meshline.sdk import Client, MeshlineAPIError

EXIT_WORDS = frozenset({"exit", "quit", "/exit", "/quit"})


def _note(text: str) -> None:
    typer.secho(text, err=True, dim=True)


def _route_line(response: ChatResponse) -> str:
    route = response.route
    agents = ", ".join(route.agents) or "no agent"
    line = f"↳ {agents} ({route.method}, {route.confidence:.2f}) · thread {response.thread_id}"
    return line + (" · degraded" if response.degraded else "")


def run_turn(client: Client, message: str, *, thread: str | None, agent: str | None, timeout_s: float | None) -> str:
    """Stream one turn's text to stdout and its route to stderr; returns the thread id."""
    printed = False
    final: ChatResponse | None = None
    for event in client.stream(message, thread_id=thread, agent=agent, timeout_s=timeout_s):
        if isinstance(event, DeltaEvent) and event.text:
            typer.echo(event.text, nl=False)
            printed = True
        elif isinstance(event, ResetEvent):
            # A terminal cannot take printed text back: say that what follows replaces it.
            if printed:
                typer.echo()
            why = "could not finish" if event.reason == "failed" else "answered differently"
            _note(f"· {event.agent} {why}: the text above does not count, the reply follows")
            printed = False
        elif isinstance(event, ToolEvent):
            _note(f"· {event.agent or 'agent'} called {event.call.tool} ({event.call.status})")
        elif isinstance(event, DoneEvent):
            final = event.response
    assert final is not None  # Client.stream raises when the stream ends without its done event
    if not printed:
        typer.echo(final.content, nl=False)
    typer.echo()
    _note(_route_line(final))
    return final.thread_id


def _interactive(client: Client, thread: str | None, agent: str | None, timeout_s: float | None) -> None:
    _note(f"meshline chat · {client.base_url} · Ctrl-D or 'exit' to leave")
    while True:
        try:
            line = typer.prompt("you", prompt_suffix="> ", default="", show_default=False)
        except typer.Abort:  # Ctrl-D or Ctrl-C at the prompt
            typer.echo()
            return
        text = line.strip()
        if not text:
            continue
        if text.lower() in EXIT_WORDS:
            return
        try:
            thread = run_turn(client, text, thread=thread, agent=agent, timeout_s=timeout_s)
        except MeshlineAPIError as exc:  # one failed turn does not end the session
            typer.secho(f"error: {describe(exc)}", err=True, fg=typer.colors.RED)


def chat(
    message: Annotated[
        str | None,
        typer.Argument(help="The message. Omit it for an interactive session.", show_default=False),
    ] = None,
    thread: Annotated[
        str | None, typer.Option("--thread", "-t", help="Continue this thread.", show_default=False)
    ] = None,
    agent: Annotated[
        str | None, typer.Option("--agent", "-a", help="Pin the turn to this agent.", show_default=False)
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Deadline of one turn, in seconds.", show_default=False)
    ] = None,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Chat with the mesh: the answer streams to stdout, the route to stderr."""
    with open_client(url, key) as client:
        if message is None:
            _interactive(client, thread, agent, timeout)
            return
        try:
            run_turn(client, message, thread=thread, agent=agent, timeout_s=timeout)
        except MeshlineAPIError as exc:
            fail(exc)
