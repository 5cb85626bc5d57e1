"""``meshline ingest PATH...``: put files into a knowledge base and show progress until the job is done."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from meshline.cli.client_options import KeyOption, UrlOption, fail, open_client
from meshline.sdk import Client, MeshlineAPIError

SUFFIXES = {".md", ".markdown", ".txt", ".text", ".html", ".htm", ".pdf"}
POLL_S = 0.3
BATCH_BYTES = 700_000  # under the orchestrator's 1 MB body limit once JSON-encoded


def collect(paths: list[Path]) -> list[Path]:
    """The files named, and the supported files under the directories named."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            fail(f"no such file or directory: {path}")
    return files


def batches(files: list[Path]) -> list[list[Path]]:
    out: list[list[Path]] = [[]]
    size = 0
    for f in files:
        length = f.stat().st_size * (4 if f.suffix.lower() == ".pdf" else 2)  # base64 / JSON escaping
        if out[-1] and size + length > BATCH_BYTES:
            out.append([])
            size = 0
        out[-1].append(f)
        size += length
    return out


def ingest_and_wait(client: Client, files: list[Path], collection: str, show: bool = True) -> tuple[int, int]:
    """Ingest ``files`` and wait for every job; returns (done, failed)."""
    jobs = [client.knowledge.ingest_files(batch, collection).job_id for batch in batches(files)]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not show, transient=False) as progress:
        bar = progress.add_task(f"ingesting into {collection}", total=len(files))
        while True:
            statuses = [client.jobs.get(job) for job in jobs]
            done, failed = sum(s.done for s in statuses), sum(s.failed for s in statuses)
            progress.update(bar, completed=done + failed)
            if all(s.finished for s in statuses):
                break
            time.sleep(POLL_S)
    for status in statuses:
        for error in status.errors:
            typer.secho(f"failed {error.document_id}: {error.error}", err=True, fg=typer.colors.YELLOW)
    return done, failed


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories (text, markdown, HTML, PDF).")],
    collection: Annotated[str, typer.Option("--collection", "-c", help="Knowledge-base collection.")] = "default",
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Ingest documents into a knowledge base (needs a key with the ingest scope)."""
    files = collect(paths)
    if not files:
        fail("no supported files (.md, .txt, .html, .pdf) found")
    try:
        with open_client(url, key) as client:
            done, failed = ingest_and_wait(client, files, collection)
    except MeshlineAPIError as exc:
        fail(exc)
    typer.echo(f"{done} document(s) ingested into {collection!r}, {failed} failed")
    if failed:
        raise typer.Exit(1)


def seed_knowledge_base(client: Client, folder: Path, collection: str = "default") -> int:
    """Ingest ``folder``/*.md unless the collection already holds chunks (``meshline up`` on first start)."""
    files = sorted(folder.glob("*.md"))
    if not files or client.knowledge.info(collection).chunks > 0:
        return 0
    done, _ = ingest_and_wait(client, files, collection, show=False)
    return done
