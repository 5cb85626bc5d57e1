"""Parser targets the sandbox tests run in its worker processes (``module:function``).

Each stands for a document that misbehaves in one way; everything else goes to the real parser.
"""

from __future__ import annotations

import re
import time

from meshline.memory.knowledge_bases.parse_sandbox import ParseRequest, SandboxLimits, parse_document

# The markdown heading pattern the memory service used before: lazy ``.+?`` followed by
# ``\s*#*\s*$`` backtracks quadratically over a long run of spaces.
OLD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def old_markdown_parser(request: ParseRequest, limits: SandboxLimits) -> tuple[str, list[str]]:
    """The parser as it was: markdown titles found with the super-linear pattern."""
    if request.format == "markdown":
        match = OLD_HEADING.search(request.content)
        title, pieces = parse_document(request, limits)
        return (match.group(1).strip() if match else title), pieces
    return parse_document(request, limits)


def misbehaving(request: ParseRequest, limits: SandboxLimits) -> tuple[str, list[str]]:
    """``content`` says how to misbehave: ``sleep`` (past the wall clock), ``allocate`` (past the
    memory cap), ``exit`` (dies); anything else is parsed normally."""
    if request.content == "sleep":
        time.sleep(3600)
    if request.content == "allocate":
        hog = [bytearray(64 * 1024 * 1024) for _ in range(1024)]
        return str(len(hog)), []
    if request.content == "exit":
        raise SystemExit(3)
    return parse_document(request, limits)
