"""Service tokens: short-lived Ed25519-signed JWTs, issued by the orchestrator, verified everywhere.

The token names tenant, user and scopes, and its audience lists the services the holder may
call with it (the agent itself, plus the llm, memory and tool services it uses), so an agent
forwards the token it received and nothing more.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Request

from meshline.errors import Forbidden, Unauthorized
from meshline.service.context import current_context

ISSUER = "meshline-orchestrator"
ALGORITHM = "EdDSA"


@dataclass(frozen=True)
class Identity:
    tenant: str
    user: str
    scopes: frozenset[str]
    token: str


def generate_keypair() -> tuple[str, str]:
    """A new (private PEM, public PEM) Ed25519 pair."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


class ServiceTokenIssuer:
    def __init__(self, private_key_pem: str, ttl_s: int = 300) -> None:
        self._key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        self.ttl_s = ttl_s

    def issue(self, *, tenant: str, user: str, scopes: Sequence[str], audience: Sequence[str]) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": user,
            "tenant": tenant,
            "scopes": sorted(scopes),
            "aud": sorted(set(audience)),
            "iat": now,
            "exp": now + self.ttl_s,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)  # type: ignore[arg-type]


class ServiceTokenVerifier:
    """Verifies service tokens; a verified token is remembered until it expires (bounded LRU), because
    an agent forwards the same token on every call it makes and an EdDSA check costs about a millisecond."""

    def __init__(self, public_key_pem: str, audience: str, cache_size: int = 1024) -> None:
        self._key = serialization.load_pem_public_key(public_key_pem.encode())
        self.audience = audience
        self._cache_size = cache_size
        self._verified: OrderedDict[str, tuple[Identity, float]] = OrderedDict()

    def verify(self, token: str) -> Identity:
        cached = self._verified.get(token)
        if cached is not None:
            identity, exp = cached
            if time.time() < exp:
                self._verified.move_to_end(token)
                return identity
            del self._verified[token]  # expired: verify again, which raises token_expired
        identity, exp = self._decode(token)
        if self._cache_size > 0:
            self._verified[token] = (identity, exp)
            if len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
        return identity

    def _decode(self, token: str) -> tuple[Identity, float]:
        try:
            claims = jwt.decode(
                token,
                self._key,  # type: ignore[arg-type]
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "aud", "iss", "sub", "tenant", "scopes"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("service token expired", code="token_expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise Forbidden(f"service token is not valid for {self.audience!r}", code="wrong_audience") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid service token: {exc}", code="invalid_token") from exc
        identity = Identity(
            tenant=str(claims["tenant"]), user=str(claims["sub"]), scopes=frozenset(claims["scopes"]), token=token
        )
        return identity, float(claims["exp"])


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing bearer token", code="missing_token")
    return token.strip()


def require_identity(*scopes: str) -> Callable[[Request], Awaitable[Identity]]:
    """FastAPI dependency: verify the service token, bind tenant and user to the request context."""

    async def dependency(request: Request) -> Identity:
        verifier: ServiceTokenVerifier | None = getattr(request.app.state, "token_verifier", None)
        if verifier is None:
            raise Unauthorized("this service has no token verification key configured", code="no_key")
        identity = verifier.verify(bearer_token(request))
        missing = set(scopes) - identity.scopes
        if missing:
            raise Forbidden(f"missing scope(s): {', '.join(sorted(missing))}", code="missing_scope")
        ctx = current_context()
        ctx.tenant, ctx.user, ctx.scopes, ctx.token = identity.tenant, identity.user, identity.scopes, identity.token
        return identity

    return dependency
