"""PDFs built in the test itself: a decompression bomb and a document with many pages."""

from __future__ import annotations

import io
import zlib

from pypdf import PdfWriter

from tests.memory.knowledge_harness import pdf_from_objects

MIB = 1024 * 1024


def _deflate_zeros(size: int) -> bytes:
    """zlib of ``size`` zero bytes, compressed piecewise so the test never holds them all."""
    compressor = zlib.compressobj(9)
    block = bytes(MIB)
    parts = [compressor.compress(block) for _ in range(size // MIB)]
    return b"".join(parts) + compressor.flush()


def pdf_with_stream(stream: bytes, filters: str) -> bytes:
    """A one-page PDF whose content stream is ``stream`` (already encoded with ``filters``)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        f"<< /Length {len(stream)} /Filter {filters} >>\nstream\n".encode() + stream + b"\nendstream",
    ]
    return pdf_from_objects(objects)


def flate_bomb(decoded_mib: int = 256) -> bytes:
    """A PDF of a few KB whose page content inflates, through two stacked FlateDecode filters,
    to ``decoded_mib`` MiB of zeros."""
    inner = _deflate_zeros(decoded_mib * MIB)
    return pdf_with_stream(zlib.compress(inner, 9), "[/FlateDecode /FlateDecode]")


def blank_pages(count: int) -> bytes:
    writer = PdfWriter()
    for _ in range(count):
        writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()
