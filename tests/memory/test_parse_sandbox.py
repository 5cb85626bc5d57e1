"""The parse sandbox with real worker processes: every limit fails its document alone, the pool
replaces the worker, and the next document parses; the markdown title scan is linear."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest

from meshline.memory.knowledge_bases.decoding import DecodeLimits, DocumentError, markdown_title
from meshline.memory.knowledge_bases.parse_pool import ParsePool
from meshline.memory.knowledge_bases.parse_sandbox import MIB, ParseRequest, SandboxLimits
from tests.memory.pdf_bombs import blank_pages, flate_bomb

LIMITS = SandboxLimits(cpu_s=2, memory_bytes=256 * MIB, decode=DecodeLimits(max_pdf_pages=3))
# Headings with 100 KB runs of spaces inside: the old pattern needed minutes for one of them.
ADVERSARIAL_MARKDOWN = "".join(f"{'#' * (i % 6 + 1)} a{' ' * 100_000}b{' ' * 100_000}c\n" for i in range(6)) + "body"
GOOD = ParseRequest("good", "# Returns\n\nReturns are free within 30 days.", "markdown")


async def pool(target: str | None = None, wall_s: float = 20.0) -> ParsePool:
    parser = ParsePool(LIMITS, size=1, wall_s=wall_s, target=target)
    await parser.start()
    return parser


@pytest.fixture
async def real() -> AsyncIterator[ParsePool]:
    parser = await pool()
    yield parser
    await parser.close()


def pdf(data: bytes, name: str = "file.pdf") -> ParseRequest:
    return ParseRequest(name, base64.b64encode(data).decode(), "pdf", binary=True)


async def assert_recovers(parser: ParsePool) -> None:
    """The pool answers the next document normally (a fresh worker where the old one died)."""
    assert await parser.parse(GOOD) == ("Returns", ["# Returns\n\nReturns are free within 30 days."])


async def test_adversarial_markdown_parses_within_the_cpu_limit(real: ParsePool) -> None:
    title, pieces = await real.parse(ParseRequest("spaces.md", ADVERSARIAL_MARKDOWN, "markdown"))
    assert title == "a b c"
    assert pieces[-1].endswith("body")


async def test_the_old_heading_pattern_exceeds_the_cpu_limit_and_fails_alone() -> None:
    parser = await pool("tests.memory.sandbox_targets:old_markdown_parser")
    try:
        with pytest.raises(DocumentError, match="CPU-time limit of 2 s"):
            await parser.parse(ParseRequest("spaces.md", ADVERSARIAL_MARKDOWN, "markdown"))
        await assert_recovers(parser)
    finally:
        await parser.close()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("sleep", "wall-clock limit of 1 s"),
        ("allocate", "memory limit of 256 MiB"),
        ("exit", "stopped unexpectedly"),
    ],
)
async def test_a_document_over_a_limit_fails_alone_and_the_worker_is_replaced(content: str, reason: str) -> None:
    parser = await pool("tests.memory.sandbox_targets:misbehaving", wall_s=1.0)
    try:
        with pytest.raises(DocumentError, match=reason):
            await parser.parse(ParseRequest("bad", content))
        await assert_recovers(parser)
    finally:
        await parser.close()


async def test_a_pdf_decompression_bomb_fails_at_the_stream_cap(real: ParsePool) -> None:
    bomb = flate_bomb(256)
    assert len(bomb) < 4096  # a kilobyte or so that would inflate to 256 MiB
    with pytest.raises(DocumentError, match="exceeds a decoding limit"):
        await real.parse(pdf(bomb, "bomb.pdf"))
    await assert_recovers(real)


async def test_a_pdf_over_the_page_cap_fails_with_the_limit_named(real: ParsePool) -> None:
    with pytest.raises(DocumentError, match="the PDF has 4 pages; the limit is 3"):
        await real.parse(pdf(blank_pages(4)))
    with pytest.raises(DocumentError, match="no text"):  # three blank pages are within the cap
        await real.parse(pdf(blank_pages(3)))


@pytest.mark.parametrize(
    ("markdown", "title"),
    [
        ("# Title", "Title"),
        ("intro\n  ## Sub title ##  \nmore", "Sub title"),
        ("#NoSpace\n# Real", "Real"),
        ("    # indented code", ""),
        ("####### seven\n# six or fewer", "six or fewer"),
        ("# C#", "C#"),
        ("# Title #hash", "Title #hash"),
        ("#\n# \t \n", ""),
    ],
)
def test_markdown_title_is_the_first_atx_heading(markdown: str, title: str) -> None:
    assert markdown_title(markdown) == title
