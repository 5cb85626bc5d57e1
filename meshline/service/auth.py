"""Service tokens: short-lived Ed25519-signed JWTs, issued by the orchestrator, verified everywhere.

A token names tenant, user (``sub``) and scopes, and exactly one audience: the service it opens.
The orchestrator mints one per hop (the agent's own, and separate ones for the LLM layer, the
memory service and each tool service the agent may call, handed over in the ``AgentTask``), so no
service ever forwards a token it received and a token replayed elsewhere is refused.

Verification accepts any of the configured public keys (two during a key rotation) and a few
seconds of clock skew (``MESHLINE_TOKEN_LEEWAY_S``).
"""

from __future__ import annotations

import math
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
from meshline.service.context import current_context, time_left_in_request

ISSUER = "meshline-orchestrator"
ALGORITHM = "EdDSA"
MAX_TTL_S = 3600
DEADLINE_MARGIN_S = 5  # a token outlives the request it serves by this much


@dataclass(frozen=True)
class Identity:
    tenant: str
    user: str
    scopes: frozenset[str]


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

    def issue(self, *, tenant: str, user: str, scopes: Sequence[str], audience: str) -> str:
        """A token for ``audience`` alone (one service's registry name, ``llm`` or ``memory``).

        It lives ``ttl_s``, or until just after the current request's deadline when that is later
        (a turn allowed five minutes must not lose its tokens half way), never over an hour.
        """
        now = int(time.time())
        ttl = self.ttl_s
        remaining = time_left_in_request()
        if remaining is not None:
            ttl = min(max(ttl, math.ceil(remaining) + DEADLINE_MARGIN_S), MAX_TTL_S)
        claims = {
            "iss": ISSUER,
            "sub": user,
            "tenant": tenant,
            "scopes": sorted(scopes),
            "aud": audience,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)  # type: ignore[arg-type]


class ServiceTokenVerifier:
    """Verifies service tokens for one audience; a verified token is remembered until it expires
    (bounded LRU), because an agent sends the same token on every call of a turn and an EdDSA check
    costs about a millisecond."""

    def __init__(
        self, public_key_pems: Sequence[str], audience: str, cache_size: int = 1024, leeway_s: float = 5.0
    ) -> None:
        if not public_key_pems:
            raise ValueError("at least one public key is needed to verify service tokens")
        self._keys = [serialization.load_pem_public_key(pem.encode()) for pem in public_key_pems]
        self.audience = audience
        self.leeway_s = leeway_s
        self._cache_size = cache_size
        self._verified: OrderedDict[str, tuple[Identity, float]] = OrderedDict()

    def verify(self, token: str) -> Identity:
        cached = self._verified.get(token)
        if cached is not None:
            identity, exp = cached
            if time.time() < exp + self.leeway_s:
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
        claims: dict[str, object] = {}
        for i, key in enumerate(self._keys):
            try:
                claims = jwt.decode(
                    token,
                    key,  # type: ignore[arg-type]
                    algorithms=[ALGORITHM],
                    audience=self.audience,
                    issuer=ISSUER,
                    leeway=self.leeway_s,
                    options={"require": ["exp", "iat", "aud", "iss", "sub", "tenant", "scopes"], "strict_aud": True},
                )
                break
            except jwt.InvalidSignatureError as exc:
                if i == len(self._keys) - 1:  # signed by none of the keys (a rotation accepts two)
                    raise Unauthorized(f"invalid service token: {exc}", code="invalid_token") from exc
                continue
            except jwt.ExpiredSignatureError as exc:
                raise Unauthorized("service token expired", code="token_expired") from exc
            except jwt.InvalidAudienceError as exc:
                raise Forbidden(f"service token is not valid for {self.audience!r}", code="wrong_audience") from exc
            except jwt.PyJWTError as exc:
                raise Unauthorized(f"invalid service token: {exc}", code="invalid_token") from exc
        scopes = claims["scopes"]
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise Unauthorized("invalid service token: scopes must be a list of strings", code="invalid_token")
        identity = Identity(tenant=str(claims["tenant"]), user=str(claims["sub"]), scopes=frozenset(scopes))
        return identity, float(str(claims["exp"]))


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
        ctx.tenant, ctx.user, ctx.scopes = identity.tenant, identity.user, identity.scopes
        return identity

    return dependency
