"""Knowledge-base documents: decoding (text, markdown, HTML, PDF) and deterministic chunking.

A document becomes chunks ``<doc id>#<index>``: the same content always yields the same
chunk ids and texts, so re-ingesting is an idempotent upsert and a changed document's
leftover chunks are exactly the ids not produced again.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from meshline.contracts.knowledge import DocumentFormat

Scalar = str | int | float | bool
FORMAT_BY_SUFFIX: dict[str, DocumentFormat] = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_SKIPPED_TAGS = {"script", "style", "noscript", "template"}
_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "pre"}


class DocumentError(ValueError):
    """The document cannot be read (bad encoding, broken PDF, no text, bad metadata)."""


def format_for(filename: str, content_type: str | None = None) -> DocumentFormat:
    """The format of an uploaded file, from its name, else its content type; plain text by default."""
    suffix = filename[filename.rfind(".") :].lower() if "." in filename else ""
    if suffix in FORMAT_BY_SUFFIX:
        return FORMAT_BY_SUFFIX[suffix]
    kind = (content_type or "").split(";")[0].strip().lower()
    return {"text/html": "html", "application/pdf": "pdf", "text/markdown": "markdown"}.get(kind, "text")  # type: ignore[return-value]


class _HTMLText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n" if tag != "br" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS and self._skip:
            self._skip -= 1
        elif tag == "title":
            self._in_title = False
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.parts.append(data)


def _pdf_text(data: bytes) -> tuple[str, str]:
    from pypdf import PdfReader  # imported on use: only PDF ingestion needs it
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
        title = str(info.get("/Title") or "") if info is not None else ""
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentError(f"unreadable PDF: {exc}") from exc
    return title, "\n\n".join(pages)


def _bytes(content: str) -> bytes:
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DocumentError("binary content must be base64") from exc


def decode(content: str, fmt: DocumentFormat, *, binary: bool = False) -> tuple[str, str]:
    """(title found in the document, plain text); raises DocumentError.

    ``binary``: ``content`` is base64 of the file's bytes (uploads; always the case for PDF).
    """
    if fmt == "pdf":
        title, text = _pdf_text(_bytes(content))
    else:
        if binary:
            try:
                content = _bytes(content).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DocumentError(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
        if fmt == "html":
            parser = _HTMLText()
            parser.feed(content)
            parser.close()
            title, text = parser.title.strip(), "".join(parser.parts)
        else:
            match = _HEADING.search(content) if fmt == "markdown" else None
            title, text = (match.group(1).strip() if match else ""), content
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r"\n\s*\n\s*", "\n\n", text).strip()
    if not text:
        raise DocumentError("the document has no text")
    return title, text


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
    pieces = chunk_text(text, size, overlap)
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
