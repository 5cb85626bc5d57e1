"""Outbound connections only to addresses the mesh allows: the guard against SSRF and DNS rebinding.

Whoever registers a service chooses the URL the mesh then fetches, so an unchecked fetch reaches
whatever the orchestrator can reach: cloud metadata (169.254.169.254), Redis on loopback, the
private network. The guard refuses every special-purpose address (loopback, private, link-local,
CGNAT, multicast, reserved, documentation..., IPv4 and IPv6, IPv4 embedded in IPv6 included)
unless an allow-listed network holds it.

The check sits in the HTTP client's network backend: the backend resolves the host itself,
checks every address it got (one refused address refuses the host: the resolver's order is not
ours to trust), and connects to a checked address. So the check is made on every connection the
client opens, after the resolution that connection uses, and a name that resolves differently
the second time (DNS rebinding) gains nothing. httpx 0.28 and httpx2 take no network backend as
an argument (encode/httpx#3749 is still open), so their transports are built with a connection
pool of our own (see ``guarded_transport``).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypedDict

import anyio
import httpcore
import httpcore2
import httpx
import httpx2

from meshline.errors import MeshlineError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses to try, in order. Tests point it elsewhere to script DNS answers.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # the well-known prefix: the last 32 bits are an IPv4 address


class AddressNotAllowed(MeshlineError):
    """The host is, or resolves to, an address the mesh does not call. Names the host only."""

    status, code, title = 422, "address_not_allowed", "Address not allowed"


def special_purpose(address: IPAddress) -> bool:
    """Whether ``address`` is anything but an ordinary public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [address.ipv4_mapped, address.sixtofour, address.teredo[1] if address.teredo else None]
        if address in NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if any(v4 is not None and special_purpose(v4) for v4 in embedded):
            return True
    return (
        not address.is_global  # private, loopback, link-local, CGNAT, documentation, benchmarking...
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_loopback
        or address.is_link_local
        or address.is_private
    )


def parse_networks(cidrs: Iterable[str | IPNetwork]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) if isinstance(c, str) else c for c in cidrs)


async def system_resolver(host: str, port: int) -> list[str]:
    """The system's answer for ``host`` (getaddrinfo, off the event loop)."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AddressGuard:
    """Decides which addresses may be connected to; ``allow`` lists networks exempt from the rule.

    ``resolve_timeout_s`` bounds the DNS lookup before each connection; a service passes its own setting
    (the orchestrator's ``registry_resolve_timeout_s``), the default is that setting's."""

    def __init__(
        self,
        allow: Iterable[str | IPNetwork] = (),
        *,
        resolver: Resolver | None = None,
        resolve_timeout_s: float = 5.0,
    ) -> None:
        self.allow = parse_networks(allow)
        self.resolver = resolver or system_resolver
        self.resolve_timeout_s = resolve_timeout_s

    def allowed(self, address: IPAddress) -> bool:
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        candidates = [address] if mapped is None else [address, mapped]
        if any(a in network for a in candidates for network in self.allow if a.version == network.version):
            return True
        return not special_purpose(address)

    async def addresses(self, host: str, port: int) -> list[str]:
        """The checked addresses to connect to for ``host``; raises AddressNotAllowed, or OSError when unresolvable."""
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            if not self.allowed(literal):
                raise AddressNotAllowed(f"{host} is a private or special-purpose address that is not allow-listed")
            return [literal.compressed]
        with anyio.fail_after(self.resolve_timeout_s):
            answers = list(await self.resolver(host, port))
        if not answers:
            raise OSError(f"no address for {host}")
        parsed = [ipaddress.ip_address(a.split("%", 1)[0]) for a in answers]
        if not all(self.allowed(a) for a in parsed):
            raise AddressNotAllowed(f"{host} resolves to a private or special-purpose address that is not allow-listed")
        return [str(a) for a in answers]


class GuardedBackend(httpcore.AsyncNetworkBackend, httpcore2.AsyncNetworkBackend):
    """A network backend for httpcore (httpx) or httpcore2 (httpx2: the ``mcp`` client), whose interfaces
    are the same: resolve the host, check its addresses, connect to a checked one with ``inner``."""

    def __init__(
        self,
        guard: AddressGuard,
        inner: httpcore.AsyncNetworkBackend | httpcore2.AsyncNetworkBackend,
        connect_error: type[Exception],
    ) -> None:
        self.guard = guard
        self._inner = inner
        self._connect_error = connect_error  # what the library's pool expects from a failed connect

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  (the libraries' interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> Any:
        try:
            addresses = await self.guard.addresses(host, port)
        except (OSError, TimeoutError) as exc:  # unresolvable: the same to the caller as a refused connection
            raise self._connect_error(f"cannot resolve {host}") from exc
        failure: Exception = self._connect_error(f"cannot connect to {host}")
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except self._connect_error as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109  (the libraries' interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> Any:
        raise self._connect_error("unix sockets are not reachable through the address guard")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PoolLimits(TypedDict):
    max_connections: int
    max_keepalive_connections: int | None


def _limits(keepalive: bool) -> _PoolLimits:
    # No keep-alive by default: each request then opens, and checks, a connection of its own.
    return {"max_connections": 100, "max_keepalive_connections": None if keepalive else 0}


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a pool whose every connection goes through the guard.

    The pool is httpcore's own (its public ``network_backend`` argument) and replaces the one
    httpx's constructor made, since httpx 0.28 does not pass a backend through. A client given a
    transport reads no proxy from the environment, so no proxy can stand between the check and
    the peer; CA settings from the environment (SSL_CERT_FILE) still apply."""

    def __init__(self, guard: AddressGuard, *, keepalive: bool = False, verify: bool = True) -> None:
        super().__init__(verify=verify)
        backend = GuardedBackend(guard, httpcore.AnyIOBackend(), httpcore.ConnectError)
        tls = httpx.create_ssl_context(verify=verify)
        self._pool = httpcore.AsyncConnectionPool(ssl_context=tls, network_backend=backend, **_limits(keepalive))


class GuardedTransport2(httpx2.AsyncHTTPTransport):
    """The same for httpx2 (the ``mcp`` client's HTTP library)."""

    def __init__(self, guard: AddressGuard, *, keepalive: bool = False, verify: bool = True) -> None:
        super().__init__(verify=verify)
        backend = GuardedBackend(guard, httpcore2.AnyIOBackend(), httpcore2.ConnectError)
        tls = httpx2.create_ssl_context(verify=verify)
        self._pool = httpcore2.AsyncConnectionPool(ssl_context=tls, network_backend=backend, **_limits(keepalive))
