"""The parse sandbox's pool: documents are decoded in worker processes, never in the service.

Each worker (:mod:`meshline.memory.knowledge_bases.parse_sandbox`) takes one document at a time under a CPU-time
budget and a memory cap; the pool adds a wall-clock limit, kills a worker that overruns it and
starts a fresh one, and turns every way a document can fail into a :class:`DocumentError` with
a reason the job shows. Because each worker holds exactly one document, a death is attributed
to the document that caused it and to no other (a ``ProcessPoolExecutor`` marks the whole pool
broken and fails every document in flight).

How workers start: a fresh interpreter (``python -m meshline.memory.knowledge_bases.parse_sandbox``, through
asyncio's subprocess support). Not ``fork``: the service has loaded torch (its thread pools,
~1 GB of mappings) and runs Chroma's and asyncio's threads, so a forked child would inherit
locks held by those threads and torch's mappings inside its own address-space cap. Not
multiprocessing's ``spawn``/``forkserver``: both re-run the service's main script in every
worker and speak pickle, which the service would then unpickle from a process that reads
untrusted input. A start costs one interpreter and the stdlib (~50 ms here); it only happens
at startup and after a worker was killed.

The event loop only writes a request and reads a reply on the worker's pipes; the parsing
happens in the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from dataclasses import asdict

from pydantic import BaseModel, PrivateAttr, ValidationError

from meshline.errors import ServiceUnavailable
from meshline.memory.knowledge_bases.decoding import DecodeLimits, DocumentError
from meshline.memory.knowledge_bases.metrics import IngestMetrics, ParseOutcome
from meshline.memory.knowledge_bases.parse_sandbox import (
    FRAME_HEADER,
    MEMORY_LIMIT_REASON,
    MIB,
    ParseRequest,
    SandboxLimits,
    frame,
)
from meshline.memory.settings import MemorySettings

log = logging.getLogger(__name__)
WORKER_MODULE = "meshline.memory.knowledge_bases.parse_sandbox"
EXIT_WAIT_S = 5.0
REPLY_OVERHEAD = 4  # reply bytes per decoded character, at most (JSON escapes, UTF-8)


def sandbox_limits(settings: MemorySettings) -> SandboxLimits:
    """The sandbox's limits from the service's settings (``MESHLINE_MEMORY_PARSE_*``, ``_PDF_*``)."""
    return SandboxLimits(
        cpu_s=settings.parse_cpu_s,
        memory_bytes=settings.parse_memory_mb * MIB,
        chunk_chars=settings.chunk_chars,
        chunk_overlap=settings.chunk_overlap,
        decode=DecodeLimits(
            max_chars=settings.parse_max_chars,
            max_pdf_pages=settings.pdf_max_pages,
            max_pdf_stream_bytes=settings.pdf_max_stream_bytes,
        ),
    )


class ParsePoolClosed(ServiceUnavailable, RuntimeError):
    """The pool stopped (the service is shutting down): the document was not judged; retry it."""


class ParseReply(BaseModel):
    """What a worker answers (validated: the worker has read untrusted input); the outcome is
    the pool's judgement, never read from the worker."""

    title: str = ""
    pieces: list[str] = []
    error: str | None = None
    _outcome: ParseOutcome = PrivateAttr(default="ok")

    @classmethod
    def failed(cls, outcome: ParseOutcome, error: str) -> ParseReply:
        reply = cls(error=error)
        reply._outcome = outcome
        return reply

    @property
    def outcome(self) -> ParseOutcome:
        return self._outcome


class ParsePool:
    """``size`` sandboxed parser processes; :meth:`parse` decodes one document in one of them.

    ``target``: ``module:function`` the workers run instead of the real parser (tests only)."""

    def __init__(
        self,
        limits: SandboxLimits,
        *,
        size: int = 1,
        wall_s: float = 30.0,
        target: str | None = None,
        metrics: IngestMetrics | None = None,
    ) -> None:
        self.limits = limits
        self.metrics = metrics
        self.size = size
        self.wall_s = wall_s
        self._argv = [sys.executable, "-m", WORKER_MODULE, limits.to_json(), *([target] if target else [])]
        self._max_reply = limits.decode.max_chars * REPLY_OVERHEAD + MIB
        self._idle: asyncio.Queue[asyncio.subprocess.Process] = asyncio.Queue()
        self._workers: set[asyncio.subprocess.Process] = set()
        self._replacing: set[asyncio.Task[None]] = set()
        self._closed = False

    async def start(self) -> None:
        for _ in range(self.size):
            self._idle.put_nowait(await self._spawn())

    @property
    def alive(self) -> bool:
        return not self._closed and len(self._workers) + len(self._replacing) > 0

    async def _spawn(self) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            *self._argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        self._workers.add(process)
        return process

    async def _retire(self, process: asyncio.subprocess.Process, *, grace_s: float = 0.0) -> int | None:
        """Reap a worker, killing it if it has not exited within ``grace_s``; returns its exit status."""
        if grace_s:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace_s):
                    await process.wait()
        if process.returncode is None:
            process.kill()
        try:
            async with asyncio.timeout(EXIT_WAIT_S):
                await process.wait()
        except TimeoutError:
            log.warning("parse worker %s did not exit after SIGKILL", process.pid)
        self._workers.discard(process)
        return process.returncode

    async def _replace(self, process: asyncio.subprocess.Process) -> None:
        await self._retire(process)
        if not self._closed:
            self._idle.put_nowait(await self._spawn())

    def _death(self, code: int | None) -> ParseReply:
        if code == -signal.SIGXCPU:
            return ParseReply.failed("cpu_limit", f"parsing exceeded the CPU-time limit of {self.limits.cpu_s} s")
        if code in (-signal.SIGKILL, -signal.SIGABRT, -signal.SIGSEGV):
            # the kernel's OOM killer, or an allocator that aborts under the address-space cap
            mib = self.limits.memory_bytes // MIB
            reason = f"the parser was stopped (signal {-code}), likely at the memory limit of {mib} MiB"
            return ParseReply.failed("memory_limit", reason)
        return ParseReply.failed("died", f"the parser stopped unexpectedly (exit status {code})")

    async def _exchange(self, process: asyncio.subprocess.Process, payload: bytes) -> ParseReply:
        stdin, stdout = process.stdin, process.stdout
        assert stdin is not None and stdout is not None  # both are pipes (see _spawn)
        try:
            async with asyncio.timeout(self.wall_s):
                stdin.write(frame(payload))
                await stdin.drain()
                (size,) = FRAME_HEADER.unpack(await stdout.readexactly(FRAME_HEADER.size))
                if size > self._max_reply:
                    return ParseReply.failed("bad_reply", "the parser's reply was larger than the decoded-size limit")
                raw = await stdout.readexactly(size)
        except TimeoutError:
            reason = f"parsing took longer than the wall-clock limit of {self.wall_s:g} s"
            return ParseReply.failed("wall_clock", reason)
        except (asyncio.IncompleteReadError, ConnectionError):
            # Its pipe closed: it is exiting, so wait for its own status before killing it.
            return self._death(await self._retire(process, grace_s=EXIT_WAIT_S))
        try:
            reply = ParseReply.model_validate_json(raw)
        except ValidationError:
            return ParseReply.failed("bad_reply", "the parser's reply was malformed")
        if reply.error is None:
            return reply
        memory = reply.error.startswith(MEMORY_LIMIT_REASON)
        return ParseReply.failed("memory_limit" if memory else "rejected", reply.error)

    async def parse(self, request: ParseRequest) -> tuple[str, list[str]]:
        """(title found, pieces) of one document; raises DocumentError with the reason it failed,
        or ParsePoolClosed when the service stops meanwhile (the document was not judged)."""
        if self._closed:
            raise ParsePoolClosed("the parse pool is closed")
        payload = json.dumps(asdict(request)).encode()
        process = await self._idle.get()
        reusable = False
        try:
            reply = await self._exchange(process, payload)
            # A worker that failed, overran or is ending itself (after a MemoryError) is replaced.
            reusable = reply.error is None and process.returncode is None
        finally:
            if reusable and not self._closed:
                self._idle.put_nowait(process)
            else:  # also when cancelled mid-exchange: its pipes may hold half a frame
                task = asyncio.create_task(self._replace(process))
                self._replacing.add(task)
                task.add_done_callback(self._replacing.discard)
        if self._closed:
            raise ParsePoolClosed("the parse pool stopped while the document was being parsed")
        if self.metrics is not None:
            self.metrics.parse_outcome(reply.outcome)
        if reply.error is not None:
            raise DocumentError(reply.error)
        return reply.title, reply.pieces

    async def close(self) -> None:
        """Stop every worker; a document being parsed meanwhile raises ParsePoolClosed."""
        self._closed = True
        await asyncio.gather(*self._replacing, return_exceptions=True)
        for process in list(self._workers):
            if process.stdin is not None:
                process.stdin.close()
            await self._retire(process)
