"""Deterministic chunking of a decoded knowledge-base document.

A document becomes chunks ``<doc id>#<index>``: the same content always yields the same
chunk ids and texts, so re-ingesting is an idempotent upsert and a changed document's
leftover chunks are exactly the ids not produced again. Imported by the parse sandbox too:
standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meshline.memory.knowledge_bases.decoding import DocumentError

Scalar = str | int | float | bool  # as meshline.contracts.memory.MetadataScalar (not imported: sandbox)


def chunk_text(text: str, size: int, overlap: int) -> list[str]:
    """Split ``text`` into chunks of about ``size`` characters, cut at paragraph, line,
    sentence or word boundaries when one lies in the last third of the window."""
    if len(text) <= size:
        return [text]
    overlap = min(overlap, size // 2)
    chunks: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            window = text[start:end]
            floor = size * 2 // 3
            for sep in ("\n\n", "\n", ". ", " "):
                cut = window.rfind(sep, floor)
                if cut > 0:
                    end = start + cut + len(sep)
                    break
        piece = text[start:end].strip()
        if piece:
            chunks.append(piece)
        if end >= len(text):
            break
        start = max(end - overlap, start + 1)
        # Start the overlap at a word boundary, so no chunk begins mid-word.
        space = text.find(" ", start, end)
        if 0 <= space < end - 1:
            start = space + 1
    return chunks


@dataclass(frozen=True)
class Chunk:
    """One stored piece of a document: id ``<doc id>#<index>``, text as embedded and indexed."""

    id: str
    document_id: str
    index: int
    text: str
    metadata: dict[str, Scalar] = field(default_factory=dict)


def chunk_id(document_id: str, index: int) -> str:
    return f"{document_id}#{index}"


def document_chunks(
    document_id: str, title: str, text: str, metadata: dict[str, Scalar], size: int, overlap: int
) -> list[Chunk]:
    """The chunks of a document. Each chunk's text starts with the title, which helps both
    retrievers (BEIR indexes title + text too) and lets a cited chunk stand on its own."""
    return chunks_from_pieces(document_id, title, chunk_text(text, size, overlap), metadata)


def chunks_from_pieces(document_id: str, title: str, pieces: list[str], metadata: dict[str, Scalar]) -> list[Chunk]:
    """The chunks of a document already cut into ``pieces`` (by :func:`chunk_text`)."""
    out: list[Chunk] = []
    for index, piece in enumerate(pieces):
        body = f"{title}\n\n{piece}" if title and not piece.startswith(title) else piece
        meta: dict[str, Scalar] = {**metadata, "doc_id": document_id, "title": title, "chunk": index}
        out.append(Chunk(chunk_id(document_id, index), document_id, index, body, meta))
    return out


def check_metadata(metadata: object) -> dict[str, Scalar]:
    """Flat metadata of scalars (Chroma's rule); raises DocumentError otherwise."""
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, Scalar) for k, v in metadata.items()
    ):
        raise DocumentError("metadata must be a flat JSON object of strings, numbers and booleans")
    return dict(metadata)
