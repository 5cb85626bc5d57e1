"""A small fake OpenAI-compatible provider, for tests and benchmarks of the mesh.

Run it as ``python -m meshline.testing.fake_openai --port 9000 --latency-ms 50``. It answers
``/v1/chat/completions`` (streaming and not), ``/v1/models`` and ``/v1/embeddings``
deterministically, and records what it was asked at ``GET /_requests`` so a test can check
what reached the provider. The reply echoes the last user message and counts the user turns it
saw, which lets a test prove that earlier turns of a thread were sent along.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse

from meshline.cli import wait_for_port
from meshline.json_types import JsonObject
from meshline.testing.scripted_model import (
    ChatMessage,
    ChatRequest,
    ProviderError,
    Reply,
    Usage,
    Wire,
    chunk_events,
    completion_json,
    error_json,
)
from meshline.testing.scripted_tools import Script, as_reply, scripted_turn

OUTAGES = {"429": (429, "rate_limit_exceeded"), "500": (500, "server_error")}


def reply_text(messages: list[ChatMessage]) -> str:
    users = [m for m in messages if m.role == "user"]
    last = _text(users[-1]) if users else ""
    return f"Echo #{len(users)}: {last}"


def _text(message: ChatMessage) -> str:
    return "" if message.content is None else str(message.content)


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


def _prompt_tokens(messages: list[ChatMessage]) -> int:
    return sum(_tokens(_text(m)) for m in messages)


def echo(request: ChatRequest, chunk_words: int = 1) -> Reply:
    """The provider's default answer: the last user message echoed, with the user turns counted."""
    text = reply_text(request.messages)
    words = text.split(" ")
    pieces = [
        " ".join(words[i : i + chunk_words]) + (" " if i + chunk_words < len(words) else "")
        for i in range(0, len(words), chunk_words)
    ]
    usage = Usage(prompt_tokens=_prompt_tokens(request.messages), completion_tokens=_tokens(text))
    return Reply(text=text, usage=usage, pieces=pieces)


def context_length_exceeded(window: int, prompt_tokens: int) -> ProviderError:
    """OpenAI's answer to a prompt longer than the model's context window (litellm maps it by its code)."""
    message = (
        f"This model's maximum context length is {window} tokens. However, your messages resulted in "
        f"{prompt_tokens} tokens. Please reduce the length of the messages."
    )
    return ProviderError(
        status=400, message=message, type="invalid_request_error", param="messages", code="context_length_exceeded"
    )


def _error(error: ProviderError) -> JSONResponse:
    return JSONResponse(error_json(error), status_code=error.status, headers=error.headers or None)


def _answer(reply: Reply, request: ChatRequest, wire: Wire) -> JSONResponse | StreamingResponse:
    if not request.stream:
        return JSONResponse(completion_json(reply, wire))

    async def events() -> AsyncIterator[bytes]:
        for event in chunk_events(reply, wire):
            yield event
        if reply.break_after is not None:
            raise ConnectionAbortedError("scripted: the stream breaks half-way")

    return StreamingResponse(events(), media_type="text/event-stream")


def _add_control_routes(app: FastAPI) -> None:
    """The test's levers (``/_*``): what was asked; outages, broken streams, context windows, tool scripts."""

    @app.get("/_requests")
    async def recorded() -> list[JsonObject]:
        return list(app.state.requests)

    @app.post("/_fail")
    async def fail(count: int = 1) -> dict[str, int]:
        app.state.fail_next = count
        return {"fail_next": count}

    @app.post("/_break")
    async def break_streams(count: int = 1) -> dict[str, int]:
        """The next ``count`` streamed completions send half their text, then drop the connection."""
        app.state.break_next = count
        return {"break_next": count}

    @app.get("/_hanging")
    async def hanging() -> dict[str, int]:
        return {"hanging": app.state.hanging}

    @app.post("/_behave")
    async def behave(model: str, mode: str = "ok") -> dict[str, str]:
        """Script one model's outage until told otherwise: ``429``, ``500``, ``hang`` or ``ok``."""
        if mode not in {*OUTAGES, "hang", "ok"}:
            raise HTTPException(400, f"unknown mode {mode!r}")
        app.state.behaviour[model] = mode
        return {"model": model, "mode": mode}

    app.state.context_windows = {}  # model -> context window in (whitespace) tokens, see /_context_window

    @app.post("/_context_window")
    async def context_window(model: str, tokens: int = 0) -> dict[str, str | int]:
        """Give one model a context window: longer prompts get OpenAI's 400 ``context_length_exceeded``; 0 lifts it."""
        if tokens > 0:
            app.state.context_windows[model] = tokens
        else:
            app.state.context_windows.pop(model, None)
        return {"model": model, "tokens": tokens}

    app.state.scripts = {}  # tool name -> scripted turns (meshline.testing.scripted_tools)

    @app.post("/_script")
    async def script(body: Script) -> dict[str, list[str]]:
        """Make the "model" call tools whenever it is offered ``body.tool``; no turns removes the script."""
        if body.turns:
            app.state.scripts[body.tool] = body
        else:
            app.state.scripts.pop(body.tool, None)
        return {"scripts": sorted(app.state.scripts)}


def _add_embeddings_route(app: FastAPI) -> None:
    """``POST /v1/embeddings``: a bag-of-words hash, 16 dimensions (deterministic, no model)."""

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> JsonObject:
        body = await request.json()
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for i, text in enumerate(inputs):
            vec = [0.0] * 16
            for word in str(text).lower().split():
                vec[hash(word) % 16] += 1.0
            data.append({"object": "embedding", "index": i, "embedding": vec})
        return {
            "object": "list",
            "data": data,
            "model": body.get("model", "fake"),
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }


def create_app(latency_ms: float = 0.0, chunk_words: int = 1) -> FastAPI:
    app = FastAPI(title="fake openai")
    app.state.requests = []
    app.state.fail_next = 0
    app.state.break_next = 0  # streams to cut off half-way (see /_break)
    app.state.behaviour = {}  # model -> scripted outage (see /_behave)
    app.state.hanging = 0  # requests held by a scripted hang whose caller has not hung up yet

    @app.get("/v1/models")
    async def models() -> JsonObject:
        return {"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "meshline"}]}

    _add_control_routes(app)
    _add_embeddings_route(app)

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> JSONResponse | StreamingResponse:
        body = await request.json()
        app.state.requests.append(body)
        if len(app.state.requests) > 1000:
            del app.state.requests[:500]
        ask = ChatRequest.model_validate(body)
        model = ask.model.split("/")[-1]
        if app.state.fail_next > 0:
            app.state.fail_next -= 1
            return _error(ProviderError(status=503, message="fake outage"))
        outage = app.state.behaviour.get(model, "ok")
        if outage == "hang":  # until the caller gives up: a leak in the mesh would keep it waiting
            app.state.hanging += 1
            try:
                while not await request.is_disconnected():  # noqa: ASYNC110 - polling is the only API
                    await asyncio.sleep(0.05)
            finally:
                app.state.hanging -= 1
            return JSONResponse({"error": {"message": "caller left"}}, status_code=499)
        if outage in OUTAGES:
            status, kind = OUTAGES[outage]
            headers = {"retry-after": "1"} if status == 429 else {}
            return _error(ProviderError(status=status, message=f"fake {kind}", type=kind, headers=headers))
        window = app.state.context_windows.get(model)
        if window is not None and (prompt_tokens := _prompt_tokens(ask.messages)) > window:
            return _error(context_length_exceeded(window, prompt_tokens))
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        turn = scripted_turn(app.state.scripts, ask)
        wire = Wire(id=f"chatcmpl-{uuid.uuid4().hex[:12]}", created=int(time.time()), model=ask.model or "fake-model")
        if turn is not None:
            return _answer(as_reply(turn), ask, wire)
        reply = echo(ask, chunk_words)
        if ask.stream and app.state.break_next > 0:
            app.state.break_next -= 1
            reply = reply.model_copy(update={"break_after": len(reply.stream_pieces()) // 2})
        return _answer(reply, ask, wire)

    return app


def start_fake_openai(port: int, latency_ms: float = 0.0) -> subprocess.Popen[bytes]:
    """Run the fake provider in its own process on 127.0.0.1:port; returns once it listens."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "meshline.testing.fake_openai", "--port", str(port), "--latency-ms", str(latency_ms)]
    )
    wait_for_port(port, timeout_s=30)
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    uvicorn.run(create_app(args.latency_ms), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
