"""Knowledge-base documents: decoding text, markdown, HTML and PDF to a title and plain text.

Runs in the parse sandbox (:mod:`meshline.memory.knowledge_bases.parse_sandbox`), so it imports
only the standard library (pypdf on the first PDF). Cutting the text into chunks is
:mod:`meshline.memory.knowledge_bases.chunking`.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from typing import TYPE_CHECKING

from meshline.errors import Unprocessable

if TYPE_CHECKING:  # only the type: the parse sandbox imports this module and should stay light
    from meshline.contracts import DocumentFormat

FORMAT_BY_SUFFIX: dict[str, DocumentFormat] = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
MAX_TITLE_CHARS = 500  # as DocumentIn.title: a found title starts every chunk
MAX_HEADING_INDENT = 3
MAX_HEADING_LEVEL = 6
_SKIPPED_TAGS = {"script", "style", "noscript", "template"}
_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "pre"}


class DocumentError(Unprocessable, ValueError):
    """The document cannot be read (bad encoding, broken PDF, no text, bad metadata)."""


@dataclass(frozen=True)
class DecodeLimits:
    """Caps on what one document may decode to (the parse sandbox adds CPU, memory and time)."""

    max_chars: int = 5_000_000
    max_pdf_pages: int = 500
    max_pdf_stream_bytes: int = 20_000_000


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


def _pdf_text(data: bytes, limits: DecodeLimits) -> tuple[str, str]:
    # Imported on use: only PDF ingestion needs it. pypdf's own output caps (per filter, per
    # declared /Length, per image buffer) are lowered to ours for this call; jbig2dec, an
    # external program, is never run.
    from pypdf import PdfReader, apply_configuration, get_configuration
    from pypdf.errors import LimitReachedError, PyPdfError

    cap = limits.max_pdf_stream_bytes
    capped = replace(
        get_configuration(),
        maximum_declared_stream_length=cap,
        array_based_stream_maximum_output_length=cap,
        jbig2_maximum_output_length=cap,
        lzw_maximum_output_length=cap,
        run_length_maximum_output_length=cap,
        zlib_maximum_output_length=cap,
        brotli_maximum_output_length=cap,
        image_maximum_buffer_size=cap,
        jbig2dec_binary=None,
        disable_legacy_handling=True,
    )
    try:
        with apply_configuration(capped):
            reader = PdfReader(io.BytesIO(data))
            if len(reader.pages) > limits.max_pdf_pages:
                raise DocumentError(f"the PDF has {len(reader.pages)} pages; the limit is {limits.max_pdf_pages}")
            pages: list[str] = []
            size = 0
            for page in reader.pages:
                # Decode the content stream first: extract_text turns a stream stopped at a
                # decoding cap into an empty page, which would hide why the document failed.
                contents = page.get_contents()
                if contents is not None:
                    contents.get_data()
                pages.append(page.extract_text() or "")
                size += len(pages[-1])
                if size > limits.max_chars:
                    raise DocumentError(f"the PDF's text exceeds the limit of {limits.max_chars} characters")
            info = reader.metadata
            title = str(info.get("/Title") or "") if info is not None else ""
    except LimitReachedError as exc:
        raise DocumentError(f"the PDF exceeds a decoding limit ({cap} bytes a stream): {exc}") from exc
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentError(f"unreadable PDF: {exc}") from exc
    return title, "\n\n".join(pages)


def markdown_title(text: str) -> str:
    """The text of the first ATX heading (``# Title``, up to three spaces of indent, an
    optional closing ``#`` run), else "". One pass over the lines with string methods: the
    regular expression this replaces backtracked quadratically on long runs of spaces."""
    start = 0
    while start <= len(text):
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        line = text[start:end]
        start = end + 1
        body = line.lstrip(" \t")
        if len(line) - len(body) > MAX_HEADING_INDENT or not body.startswith("#"):
            continue
        level = len(body) - len(body.lstrip("#"))
        rest = body[level:]
        if level > MAX_HEADING_LEVEL or not rest[:1].isspace():
            continue
        title = rest.strip()
        closed = title.rstrip("#")
        if not closed or closed[-1].isspace():  # a closing run must follow a space (CommonMark)
            title = closed.rstrip()
        if title:
            return title
    return ""


def _bytes(content: str) -> bytes:
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DocumentError("binary content must be base64") from exc


def decode(
    content: str, fmt: DocumentFormat, *, binary: bool = False, limits: DecodeLimits | None = None
) -> tuple[str, str]:
    """(title found in the document, plain text); raises DocumentError.

    ``binary``: ``content`` is base64 of the file's bytes (uploads; always the case for PDF).
    Run it in the parse sandbox (:mod:`meshline.memory.knowledge_bases.parse_pool`), never on the event loop.
    """
    limits = limits or DecodeLimits()
    if fmt == "pdf":
        title, text = _pdf_text(_bytes(content), limits)
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
            title, text = (markdown_title(content) if fmt == "markdown" else ""), content
    if len(text) > limits.max_chars:
        raise DocumentError(f"the document's text exceeds the limit of {limits.max_chars} characters")
    title = " ".join(title.split())[:MAX_TITLE_CHARS]
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r"\n\s*\n\s*", "\n\n", text).strip()
    if not text:
        raise DocumentError("the document has no text")
    return title, text
