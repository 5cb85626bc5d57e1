"""Registering an MCP server as a tool service: its tool list, adapted into a Meshline manifest.

The registry lists the server's tools through an MCP client (with a timeout) and stores a
manifest of kind ``tool`` and protocol ``mcp``, whose instance URL is the MCP endpoint; agents
then call those tools over MCP. An MCP tool changes data unless its annotations say
``readOnlyHint: true`` (the hint is the only thing MCP says about side effects), so unknown
tools go through the same confirmation turn as any side-effecting tool. The service's name is
the one the registration gives, else the server's own name made into a registry name.

Every connection goes through the registry's address guard, and a refusal names what failed
without repeating what the server said (its error messages, names or tool names).
"""

from __future__ import annotations

import re

from pydantic import ValidationError

from meshline.contracts import NAME_PATTERN, Manifest
from meshline.errors import MeshlineError, Unprocessable, UpstreamError
from meshline.mcp_client import TOOL_NAME, McpToolClient
from meshline.orchestrator.registry_fetch import validation_summary
from meshline.resilience import AddressGuard, AddressNotAllowed, GuardedTransport2, ServiceUrl


def registry_name(server_name: str | None) -> str | None:
    """``"Weather Server"`` -> ``"weather-server"``; None when nothing usable is left."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", (server_name or "").lower()).strip("-_")
    slug = re.sub(r"^[^a-z]+", "", slug)[:63].rstrip("-_")
    return slug if NAME_PATTERN.match(slug) else None


class McpRegistrar:
    """The registry's MCP side: adapt a server's tools into a manifest; probe an instance.

    ``list_timeout_s`` bounds listing a server's tools at registration, ``probe_timeout_s`` a health check."""

    def __init__(self, guard: AddressGuard, *, list_timeout_s: float, probe_timeout_s: float) -> None:
        self.guard = guard
        self.list_timeout_s = list_timeout_s
        self.probe_timeout_s = probe_timeout_s
        self._client: McpToolClient | None = None

    @property
    def client(self) -> McpToolClient:
        if self._client is None:  # made on first use: most registries never see an MCP server
            self._client = McpToolClient(timeout_s=self.list_timeout_s, transport=GuardedTransport2(self.guard))
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def manifest(self, base: ServiceUrl, name: str | None = None, *, not_native: str | None = None) -> Manifest:
        """The manifest of the MCP server at ``base``; ``not_native`` says why the native contract was not found."""
        url = base.base
        try:
            listing = await self.client.list_tools(url, timeout_s=self.list_timeout_s)
        except AddressNotAllowed:
            raise
        except MeshlineError as exc:
            why = f"{not_native}, and no MCP server answered there either" if not_native else "no MCP server answered"
            raise Unprocessable(
                f"cannot register {url}: {why} ({failure(exc)})", code="service_unreachable", retryable=True
            ) from exc
        service = name or registry_name(listing.server_name)
        if service is None:
            raise Unprocessable(
                f'the MCP server at {url} names itself with no usable registry name: give one with {{"name": ...}}',
                code="name_required",
            )
        bad = [t.name for t in listing.tools if not TOOL_NAME.match(t.name)]
        if bad:
            raise Unprocessable(
                f"{len(bad)} of the MCP server's tools have names a model cannot call "
                "(letters, digits, '_' and '-', at most 64)",
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
            raise Unprocessable(
                f"cannot adapt the MCP server at {url}: {validation_summary(exc)}", code="invalid_manifest"
            ) from exc

    async def probe(self, base: ServiceUrl) -> None:
        """Returns when an MCP session opens at ``base``; else raises AddressNotAllowed or says why not."""
        try:
            await self.client.check(base.base, timeout_s=self.probe_timeout_s)
        except AddressNotAllowed:
            raise
        except MeshlineError as exc:
            raise UpstreamError(failure(exc), code=exc.code) from exc


def failure(exc: MeshlineError) -> str:
    """What went wrong with an MCP exchange, in our words: the server's own messages are not repeated."""
    if exc.code in ("address_not_allowed", "mcp_http_error"):
        return exc.detail  # written here from the host name, or the HTTP status alone
    return {
        "connect_failed": "could not connect",
        "upstream_timeout": "timed out",
        "deadline_exceeded": "the request's deadline passed",
    }.get(exc.code, "it did not answer as an MCP server")
