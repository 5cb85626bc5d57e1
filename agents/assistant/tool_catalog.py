"""The tools an agent may offer the model: its task's tool bindings, described by their manifests.

Manifests are cached per service URL for a short time, so a tool service registered or
changed at runtime is picked up within ``ttl_s`` without a restart, and a busy agent does not
fetch a manifest per task. Each call carries its binding's token, minted by the orchestrator for
that tool service alone (or no token, when the service was registered without one), never the
token the agent was called with. A binding with protocol ``mcp`` is listed and called over MCP
instead (:mod:`mcp_transport`), the rest of the loop unchanged. Calls go through the agent's
:class:`CallPipeline`: per tool service, one that keeps failing is not called for a while.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from meshline.agents.assistant.mcp_transport import McpTransport
from meshline.contracts import Manifest, Protocol, ToolBinding, ToolSpec
from meshline.errors import MeshlineError, UpstreamError
from meshline.json_types import JsonObject
from meshline.resilience import CallPipeline, raise_for_problem


@dataclass(frozen=True)
class BoundTool:
    """One tool the model may call, with the service that runs it."""

    service: str
    url: str
    spec: ToolSpec
    protocol: Protocol = "meshline"
    token: str | None = field(default=None, repr=False)  # valid for ``service`` alone

    def openai_tool(self) -> JsonObject:
        """The tool as the model is offered it (OpenAI's ``tools[i]``; its schema passes through)."""
        return {
            "type": "function",
            "function": {
                "name": self.spec.name,
                "description": self.spec.description,
                "parameters": self.spec.input_schema,
            },
        }


def idempotency_key(thread_id: str, call_id: str) -> str:
    """Deterministic per (thread, call): a retried execution of one confirmed call is the same call."""
    return "ml-" + hashlib.sha256(f"{thread_id}\x00{call_id}".encode()).hexdigest()[:40]


class ToolCatalog:
    """Fetches (and caches) tool manifests and runs tool calls."""

    def __init__(
        self,
        pipeline: CallPipeline,
        mcp: McpTransport,
        *,
        timeout_s: float,
        manifest_timeout_s: float,
        ttl_s: float = 30.0,
    ) -> None:
        self._pipeline = pipeline
        self._timeout_s = timeout_s  # one tool call
        self._manifest_timeout_s = manifest_timeout_s  # one manifest fetch
        self._ttl_s = ttl_s
        self._manifests: dict[str, tuple[float, Manifest]] = {}
        self.mcp = mcp

    async def aclose(self) -> None:
        await self.mcp.aclose()

    async def manifest(self, url: str) -> Manifest:
        cached = self._manifests.get(url)
        if cached is not None and time.monotonic() - cached[0] < self._ttl_s:
            return cached[1]
        response = await self._pipeline.client.request("GET", f"{url}/v1/manifest", timeout_s=self._manifest_timeout_s)
        raise_for_problem(response)
        try:
            manifest = Manifest.model_validate_json(response.content)
        except ValidationError as exc:
            raise UpstreamError(f"invalid manifest at {url}", code="invalid_manifest") from exc
        self._manifests[url] = (time.monotonic(), manifest)
        return manifest

    async def tools(
        self, bindings: list[ToolBinding], allowed: Mapping[str, Collection[str]] | None = None
    ) -> dict[str, BoundTool]:
        """Tool name -> bound tool. An unreachable service just offers no tools this turn.

        ``allowed`` (the profile's ``tools``) narrows a service to the tools it names; a service
        it does not name offers all of its tools.
        """
        found: dict[str, BoundTool] = {}
        for binding in bindings:
            url = binding.url.rstrip("/")
            try:
                specs = await self.mcp.tools(url) if binding.protocol == "mcp" else (await self.manifest(url)).tools
            except MeshlineError:
                continue
            only = (allowed or {}).get(binding.service)
            for spec in specs:
                if only is None or spec.name in only:
                    bound = BoundTool(binding.service, url, spec, binding.protocol, binding.token)
                    found.setdefault(spec.name, bound)
        return found

    async def call(self, tool: BoundTool, arguments: JsonObject, *, key: str | None) -> Any:
        """Run a tool; a failure raises MeshlineError with the service's problem detail."""
        if tool.protocol == "mcp":
            async with self._pipeline.guard(tool.service):
                return await self.mcp.call(tool.url, tool.spec.name, arguments, key=key, token=tool.token)
        headers = {"idempotency-key": key} if key else None
        response = await self._pipeline.request(
            tool.service,
            "POST",
            f"{tool.url}/v1/tools/{tool.spec.name}",
            json=arguments,
            headers=headers,
            token=tool.token,
            timeout_s=self._timeout_s,
        )
        return response.json()


def parse_arguments(raw: Any) -> JsonObject:
    """The model's arguments (a JSON string in OpenAI format) as a dict; bad JSON raises ValueError."""
    if isinstance(raw, dict):
        return raw
    value = json.loads(raw or "{}")
    if not isinstance(value, dict):
        raise ValueError("tool arguments must be a JSON object")
    return value
