"""Registering an MCP server as a tool service: its tool list, adapted into a Meshline manifest.

The registry lists the server's tools through an MCP client (with a timeout) and stores a
manifest of kind ``tool`` and protocol ``mcp``, whose instance URL is the MCP endpoint; agents
then call those tools over MCP. An MCP tool changes data unless its annotations say
``readOnlyHint: true`` (the hint is the only thing MCP says about side effects), so unknown
tools go through the same confirmation turn as any side-effecting tool. The service's name is
the one the registration gives, else the server's own name made into a registry name.
"""

from __future__ import annotations

import re

from pydantic import ValidationError

from meshline.contracts.manifest import NAME_PATTERN, Manifest
from meshline.errors import MeshlineError, Unprocessable
from meshline.mcp_client import TOOL_NAME, McpToolClient

LIST_TIMEOUT_S = 5.0
PROBE_TIMEOUT_S = 2.0


def registry_name(server_name: str | None) -> str | None:
    """``"Weather Server"`` -> ``"weather-server"``; None when nothing usable is left."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", (server_name or "").lower()).strip("-_")
    slug = re.sub(r"^[^a-z]+", "", slug)[:63].rstrip("-_")
    return slug if NAME_PATTERN.match(slug) else None


class McpRegistrar:
    """The registry's MCP side: adapt a server's tools into a manifest; probe an instance."""

    def __init__(self, client: McpToolClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> McpToolClient:
        if self._client is None:  # made on first use: most registries never see an MCP server
            self._client = McpToolClient(timeout_s=LIST_TIMEOUT_S)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def manifest(self, url: str, name: str | None = None, *, not_native: str | None = None) -> Manifest:
        """The manifest of the MCP server at ``url``; ``not_native`` says why the native contract was not found."""
        try:
            listing = await self.client.list_tools(url, timeout_s=LIST_TIMEOUT_S)
        except MeshlineError as exc:
            why = f"{not_native}, and no MCP server answered there either" if not_native else "no MCP server answered"
            raise Unprocessable(
                f"cannot register {url}: {why} ({exc.detail})", code="service_unreachable", retryable=True
            ) from exc
        service = name or registry_name(listing.server_name)
        if service is None:
            raise Unprocessable(
                f"the MCP server at {url} calls itself {listing.server_name!r}, which is no registry name: "
                'give one with {"name": ...}',
                code="name_required",
            )
        bad = [t.name for t in listing.tools if not TOOL_NAME.match(t.name)]
        if bad:
            raise Unprocessable(
                f"MCP tool names a model cannot call (letters, digits, '_' and '-', at most 64): {', '.join(bad)}",
                code="invalid_manifest",
            )
        if not listing.tools:
            raise Unprocessable(f"the MCP server at {url} lists no tools", code="invalid_manifest")
        description = listing.description or f"Tools of the MCP server {listing.server_name or service}."
        try:
            return Manifest(
                name=service,
                kind="tool",
                version=listing.version or "0.0.0",
                description=description[:2000],
                tools=listing.tools,
                protocol="mcp",
            )
        except ValidationError as exc:
            raise Unprocessable(f"cannot adapt the MCP server at {url}: {exc}", code="invalid_manifest") from exc

    async def probe(self, url: str) -> str | None:
        """None when an MCP session opens at ``url``, else why not."""
        try:
            await self.client.check(url, timeout_s=PROBE_TIMEOUT_S)
        except MeshlineError as exc:
            return exc.detail
        return None
