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
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse

from meshline.cli.ports import wait_for_port
from meshline.testing.scripted_tools import Script, chunks, completion, scripted_turn

OUTAGES = {"429": (429, "rate_limit_exceeded"), "500": (500, "server_error")}


def reply_text(messages: list[dict[str, Any]]) -> str:
    users = [m for m in messages if m.get("role") == "user"]
    last = str(users[-1].get("content", "")) if users else ""
    return f"Echo #{len(users)}: {last}"


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


def _prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(_tokens(str(m.get("content", ""))) for m in messages)


def context_length_exceeded(model: str, window: int, prompt_tokens: int) -> JSONResponse:
    """OpenAI's answer to a prompt longer than the model's context window (litellm maps it by its code)."""
    message = (
        f"This model's maximum context length is {window} tokens. However, your messages resulted in "
        f"{prompt_tokens} tokens. Please reduce the length of the messages."
    )
    error = {
        "message": message,
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
    return JSONResponse({"error": error}, status_code=400)


def create_app(latency_ms: float = 0.0, chunk_words: int = 1) -> FastAPI:
    app = FastAPI(title="fake openai")
    app.state.requests = []
    app.state.fail_next = 0
    app.state.break_next = 0  # streams to cut off half-way (see /_break)
    app.state.behaviour = {}  # model -> scripted outage (see /_behave)
    app.state.hanging = 0  # requests held by a scripted hang whose caller has not hung up yet

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "meshline"}]}

    @app.get("/_requests")
    async def recorded() -> list[dict[str, Any]]:
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
    async def context_window(model: str, tokens: int = 0) -> dict[str, Any]:
        """Give one model a context window: longer prompts get OpenAI's 400 ``context_length_exceeded``; 0 lifts it."""
        if tokens > 0:
            app.state.context_windows[model] = tokens
        else:
            app.state.context_windows.pop(model, None)
        return {"model": model, "tokens": tokens}

    app.state.scripts = {}  # tool name -> scripted turns (meshline.testing.scripted_tools)

    @app.post("/_script")
    async def script(body: Script) -> dict[str, Any]:
        """Make the "model" call tools whenever it is offered ``body.tool``; no turns removes the script."""
        if body.turns:
            app.state.scripts[body.tool] = body
        else:
            app.state.scripts.pop(body.tool, None)
        return {"scripts": sorted(app.state.scripts)}

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> dict[str, Any]:
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

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> JSONResponse | StreamingResponse:
        body = await request.json()
        app.state.requests.append(body)
        if len(app.state.requests) > 1000:
            del app.state.requests[:500]
        if app.state.fail_next > 0:
            app.state.fail_next -= 1
            return JSONResponse({"error": {"message": "fake outage", "type": "server_error"}}, status_code=503)
        outage = app.state.behaviour.get(str(body.get("model", "")).split("/")[-1], "ok")
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
            headers = {"retry-after": "1"} if status == 429 else None
            return JSONResponse(
                {"error": {"message": f"fake {kind}", "type": kind}}, status_code=status, headers=headers
            )
        window = app.state.context_windows.get(str(body.get("model", "")).split("/")[-1])
        if window is not None and (prompt_tokens := _prompt_tokens(body.get("messages", []))) > window:
            return context_length_exceeded(str(body.get("model")), window, prompt_tokens)
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        turn = scripted_turn(app.state.scripts, body)
        if turn is not None:
            usage, model = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}, str(body.get("model"))
            if body.get("stream"):
                return StreamingResponse(chunks(turn, model, usage), media_type="text/event-stream")
            return JSONResponse(completion(turn, model, usage))
        messages = body.get("messages", [])
        text = reply_text(messages)
        prompt_tokens = _prompt_tokens(messages)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": _tokens(text),
            "total_tokens": prompt_tokens + _tokens(text),
        }
        cid, created, model = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time()), body.get("model", "fake-model")
        if not body.get("stream"):
            return JSONResponse(
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": usage,
                }
            )

        cut = app.state.break_next > 0
        if cut:
            app.state.break_next -= 1

        async def events() -> AsyncIterator[bytes]:
            words = text.split(" ")
            for i in range(0, len(words), chunk_words):
                if cut and i >= len(words) // 2:
                    raise ConnectionAbortedError("scripted: the stream breaks half-way")
                piece = " ".join(words[i : i + chunk_words]) + (" " if i + chunk_words < len(words) else "")
                chunk = {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece}, "finish_reason": None}],
                }
                yield f"data: {json.dumps(chunk)}\n\n".encode()
            final = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "usage": usage,
            }
            yield f"data: {json.dumps(final)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

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
