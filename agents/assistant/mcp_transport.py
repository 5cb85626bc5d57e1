"""The assistant's MCP transport: tools of tool services registered with protocol ``mcp``.

Chosen per tool binding (``ToolBinding.protocol``). Tool lists are fetched over MCP and cached
per endpoint like native manifests are, so a server registered or changed at runtime is picked
up within ``ttl_s``; calls carry the binding's own token (minted for that server alone, or none),
the trace and the deadline, and a confirmed side-effecting call carries its idempotency key (see
:mod:`meshline.mcp_client`).
"""

from __future__ import annotations

import time
from typing import Any

from meshline.contracts import ToolSpec
from meshline.json_types import JsonObject
from meshline.mcp_client import McpToolClient


class McpTransport:
    """Lists and calls the tools of MCP endpoints for one agent process."""

    def __init__(
        self, *, timeout_s: float, list_timeout_s: float, ttl_s: float = 30.0, client: McpToolClient | None = None
    ) -> None:
        self._timeout_s = timeout_s  # one tool call
        self._list_timeout_s = list_timeout_s  # one tool listing
        self._ttl_s = ttl_s
        self._client = client
        self._owned = client is None
        self._tools: dict[str, tuple[float, list[ToolSpec]]] = {}

    @property
    def client(self) -> McpToolClient:
        if self._client is None:  # made on first use: most agents never meet an MCP server
            self._client = McpToolClient(timeout_s=self._timeout_s)
        return self._client

    async def aclose(self) -> None:
        if self._owned and self._client is not None:
            await self._client.aclose()

    async def tools(self, url: str) -> list[ToolSpec]:
        cached = self._tools.get(url)
        if cached is not None and time.monotonic() - cached[0] < self._ttl_s:
            return cached[1]
        specs = (await self.client.list_tools(url, timeout_s=self._list_timeout_s)).tools
        self._tools[url] = (time.monotonic(), specs)
        return specs

    async def call(self, url: str, name: str, arguments: JsonObject, *, key: str | None, token: str | None) -> Any:
        return await self.client.call_tool(
            url, name, arguments, idempotency_key=key, token=token, timeout_s=self._timeout_s
        )
