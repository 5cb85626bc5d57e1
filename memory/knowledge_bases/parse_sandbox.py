"""The child side of the parse sandbox: a worker process that decodes one document at a time.

``python -m meshline.memory.knowledge_bases.parse_sandbox LIMITS_JSON [module:function]``, started by
:class:`meshline.memory.knowledge_bases.parse_pool.ParsePool` as a fresh interpreter (so it holds none of the
service's torch threads or memory). It confines itself before reading any document: an
address-space cap (``RLIMIT_AS``: an allocation beyond it is a ``MemoryError``), no core files,
and before each document a CPU-time budget (``RLIMIT_CPU``'s soft limit, moved to "CPU used so
far + budget"; the kernel's SIGXCPU then ends the process even inside C code such as a regular
expression). The parent adds the wall-clock limit and replaces a worker that died or was killed.

Requests and replies are length-prefixed JSON frames on stdin/stdout, not pickle: the parent
must not unpickle what a process that reads untrusted documents wrote. Only the standard
library and the decoding and chunking modules are imported here (pypdf on the first PDF), so a
worker starts fast and small.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import os
import resource
import signal
import struct
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import BinaryIO, TypedDict

from meshline.memory.knowledge_bases.chunking import chunk_text
from meshline.memory.knowledge_bases.decoding import DecodeLimits, DocumentError, decode

MIB = 1024 * 1024
MAX_REASON_CHARS = 500
MEMORY_LIMIT_REASON = "parsing exceeded the memory limit"
FRAME_HEADER = struct.Struct(">I")


@dataclass(frozen=True)
class SandboxLimits:
    """What one worker may spend: per document (CPU, decoded size) and per process (memory)."""

    cpu_s: int = 20
    memory_bytes: int = 1024 * MIB
    chunk_chars: int = 1000
    chunk_overlap: int = 150
    decode: DecodeLimits = field(default_factory=DecodeLimits)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> SandboxLimits:
        data = json.loads(raw)
        return cls(**{**data, "decode": DecodeLimits(**data["decode"])})


@dataclass(frozen=True)
class ParseRequest:
    """One document to decode and cut into pieces (its chunks' texts before the title is added)."""

    document_id: str
    content: str
    format: str = "text"
    binary: bool = False


Target = Callable[[ParseRequest, SandboxLimits], tuple[str, list[str]]]


class Reply(TypedDict, total=False):
    """One reply frame: the title and pieces, or the reason the document failed (``ParseReply`` in the pool)."""

    title: str
    pieces: list[str]
    error: str


def parse_document(request: ParseRequest, limits: SandboxLimits) -> tuple[str, list[str]]:
    """(title found in the document, its pieces); raises DocumentError."""
    title, text = decode(request.content, request.format, binary=request.binary, limits=limits.decode)  # type: ignore[arg-type]
    return title, chunk_text(text, limits.chunk_chars, limits.chunk_overlap)


def _confine(limits: SandboxLimits) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXCPU, signal.SIG_DFL)  # the default action ends the process
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops its workers itself


def _arm_cpu_budget(seconds: int) -> None:
    """Let this document use ``seconds`` more CPU. Only the soft limit moves: an unprivileged
    process cannot raise a hard limit it lowered, and the next document needs a new budget."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = math.ceil(usage.ru_utime + usage.ru_stime)
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = used + seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def read_frame(stream: BinaryIO) -> bytes | None:
    """One frame (4-byte big-endian length, then that many bytes); None at end of input."""
    header = stream.read(FRAME_HEADER.size)
    if len(header) < FRAME_HEADER.size:
        return None
    (size,) = FRAME_HEADER.unpack(header)
    body = stream.read(size)
    return body if len(body) == size else None


def frame(body: bytes) -> bytes:
    return FRAME_HEADER.pack(len(body)) + body


def load_target(spec: str) -> Target:
    """``module:function`` (tests pass their own, e.g. one that burns CPU)."""
    module, _, name = spec.partition(":")
    target: Target = getattr(importlib.import_module(module), name)
    return target


def _answer(target: Target, request: ParseRequest, limits: SandboxLimits) -> tuple[Reply, bool]:
    """The reply to one request, and whether this worker may take another document."""
    try:
        title, pieces = target(request, limits)
    except DocumentError as exc:
        return {"error": str(exc)[:MAX_REASON_CHARS]}, True
    except MemoryError:
        # replaced rather than trusted again
        return {"error": f"{MEMORY_LIMIT_REASON} of {limits.memory_bytes // MIB} MiB"}, False
    except RecursionError:
        return {"error": "the document is nested too deeply to parse"}, True
    except Exception as exc:  # the document is the only input: whatever it makes fail is its failure
        return {"error": f"unreadable document ({type(exc).__name__}: {exc})"[:MAX_REASON_CHARS]}, True
    return {"title": title, "pieces": pieces}, True


def serve(requests: BinaryIO, replies: BinaryIO, limits: SandboxLimits, target: Target) -> None:
    """The worker's loop: one JSON request in, one JSON reply out, until the input closes."""
    while (raw := read_frame(requests)) is not None:
        _arm_cpu_budget(limits.cpu_s)
        reply, reusable = _answer(target, ParseRequest(**json.loads(raw)), limits)
        replies.write(frame(json.dumps(reply).encode()))
        replies.flush()
        if not reusable:
            return


def main(argv: list[str]) -> None:
    limits = SandboxLimits.from_json(argv[1])
    target = load_target(argv[2]) if len(argv) > 2 else parse_document
    # Replies own file descriptor 1; anything a library prints goes to stderr instead.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    _confine(limits)
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings about a broken file are the file's words
    serve(sys.stdin.buffer, replies, limits, target)


if __name__ == "__main__":
    main(sys.argv)
