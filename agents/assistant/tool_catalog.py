"""The tools an agent may offer the model: its task's tool bindings, described by their manifests.

Manifests are cached per service URL for a short time, so a tool service registered or
changed at runtime is picked up within ``ttl_s`` without a restart, and a busy agent does not
fetch a manifest per task. Calls forward the token the agent received (its audience includes
the agent's tool services) through the resilient client.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from meshline.contracts import Manifest, ToolBinding
from meshline.contracts.manifest import ToolSpec
from meshline.errors import MeshlineError, UpstreamError
from meshline.resilience import ServiceClient, raise_for_problem

MANIFEST_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class BoundTool:
    """One tool the model may call, with the service that runs it."""

    service: str
    url: str
    spec: ToolSpec

    def openai_tool(self) -> dict[str, Any]:
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

    def __init__(self, client: ServiceClient, *, timeout_s: float, ttl_s: float = 30.0) -> None:
        self._client = client
        self._timeout_s = timeout_s
        self._ttl_s = ttl_s
        self._manifests: dict[str, tuple[float, Manifest]] = {}

    async def manifest(self, url: str) -> Manifest:
        cached = self._manifests.get(url)
        if cached is not None and time.monotonic() - cached[0] < self._ttl_s:
            return cached[1]
        response = await self._client.request("GET", f"{url}/v1/manifest", timeout_s=MANIFEST_TIMEOUT_S)
        raise_for_problem(response)
        try:
            manifest = Manifest.model_validate_json(response.content)
        except ValidationError as exc:
            raise UpstreamError(f"invalid manifest at {url}", code="invalid_manifest") from exc
        self._manifests[url] = (time.monotonic(), manifest)
        return manifest

    async def tools(self, bindings: list[ToolBinding]) -> dict[str, BoundTool]:
        """Tool name -> bound tool. An unreachable service just offers no tools this turn."""
        found: dict[str, BoundTool] = {}
        for binding in bindings:
            url = binding.url.rstrip("/")
            try:
                manifest = await self.manifest(url)
            except MeshlineError:
                continue
            for spec in manifest.tools:
                found.setdefault(spec.name, BoundTool(service=binding.service, url=url, spec=spec))
        return found

    async def call(self, tool: BoundTool, arguments: dict[str, Any], *, key: str | None) -> Any:
        """Run a tool; a failure raises MeshlineError with the service's problem detail."""
        headers = {"idempotency-key": key} if key else None
        response = await self._client.request(
            "POST", f"{tool.url}/v1/tools/{tool.spec.name}", json=arguments, headers=headers, timeout_s=self._timeout_s
        )
        raise_for_problem(response)
        return response.json()


def parse_arguments(raw: Any) -> dict[str, Any]:
    """The model's arguments (a JSON string in OpenAI format) as a dict; bad JSON raises ValueError."""
    if isinstance(raw, dict):
        return raw
    value = json.loads(raw or "{}")
    if not isinstance(value, dict):
        raise ValueError("tool arguments must be a JSON object")
    return value
