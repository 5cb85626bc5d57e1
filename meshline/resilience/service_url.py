"""A registered service's URL, parsed once and rebuilt from its parts for every call.

A submitted URL is only a scheme, a host, a port and a path prefix: userinfo, query and
fragment are refused (``http://internal/secret#`` must not turn ``/v1/manifest`` into a
fragment), and every URL the mesh fetches is rebuilt from the parsed parts plus a path of
its own, never by appending to the raw string.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from meshline.errors import BadRequest

# A DNS name (letters, digits, hyphens; dot-separated labels), as it may appear in a URL.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
# RFC 3986 path characters without '%': a percent-encoded '/', '?' or '#' could smuggle them back.
_SEGMENT = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@-]*$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _invalid(reason: str) -> BadRequest:
    return BadRequest(f"service url {reason}", code="invalid_url")


@dataclass(frozen=True)
class ServiceUrl:
    """``scheme://host:port/path``: the parts of a service's base URL that the mesh keeps."""

    scheme: str
    host: str  # a lower-case DNS name, or an IP address (IPv6 without brackets)
    port: int
    path: str  # "" or "/a/b": no trailing slash

    @classmethod
    def parse(cls, raw: str) -> ServiceUrl:
        """Parse and validate ``raw``; a 400 ``invalid_url`` problem names what is wrong (never echoes it)."""
        text = raw.strip()
        if not text or any(c in text for c in "?#\\") or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in text):
            raise _invalid("must be an absolute http(s) URL without query, fragment, spaces or backslashes")
        try:
            parts = urlsplit(text)
            port, hostname = parts.port, parts.hostname or ""
        except ValueError:  # a bad port or a malformed bracketed host
            raise _invalid("has an invalid host or port") from None
        if parts.scheme not in _DEFAULT_PORTS or not parts.netloc:
            raise _invalid("must be an absolute http(s) URL")
        if "@" in parts.netloc:
            raise _invalid("must not carry credentials (user:password@)")
        host = cls._host(hostname, bracketed=parts.netloc.startswith("["))
        segments = parts.path.rstrip("/").split("/")[1:]
        if any(s in ("", ".", "..") or not _SEGMENT.match(s) for s in segments):
            raise _invalid("path may hold only plain segments (no '.', '..', '//' or percent-encoding)")
        path = "".join(f"/{s}" for s in segments)
        return cls(parts.scheme, host, port or _DEFAULT_PORTS[parts.scheme], path)

    @staticmethod
    def _host(host: str, *, bracketed: bool) -> str:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            if bracketed or not HOSTNAME.match(host):
                raise _invalid("has an invalid host") from None
            return host.rstrip(".")
        if bracketed != (address.version == 6) or getattr(address, "scope_id", None):
            raise _invalid("has an invalid host")  # "[1.2.3.4]", a bare IPv6, a zone id
        return address.compressed

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def base(self) -> str:
        """The canonical form that the registry stores and lists."""
        return f"{self.scheme}://{self.netloc}{self.path}"

    def endpoint(self, *segments: str) -> str:
        """The URL of ``segments`` (fixed path parts such as ``"v1", "manifest"``) under this base."""
        for segment in segments:
            if not segment or segment in (".", "..") or not _SEGMENT.match(segment):
                raise ValueError(f"not a plain path segment: {segment!r}")
        return "/".join([self.base, *segments])
