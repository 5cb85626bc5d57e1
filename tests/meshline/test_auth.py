"""Service tokens: issue/verify, and require_identity guarding a real kit-built app."""

from __future__ import annotations

import base64
import contextvars
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
import pytest
from fastapi import APIRouter, Depends, FastAPI

from meshline.errors import Forbidden, Unauthorized
from meshline.service.app import create_service_app
from meshline.service.auth import (
    ISSUER,
    Identity,
    ServiceTokenIssuer,
    ServiceTokenVerifier,
    generate_keypair,
    require_identity,
)
from meshline.service.context import RequestContext, bind_context, current_context
from meshline.service.settings import MeshSettings, ServiceSettings
from meshline.testing.asgi import asgi_client
from meshline.testing.wait import wait_until_sync

SERVICE = "memory"


def guarded_router() -> APIRouter:
    router = APIRouter()

    @router.get("/v1/whoami")
    async def whoami(identity: Annotated[Identity, Depends(require_identity("chat"))]) -> dict[str, Any]:
        ctx = current_context()
        return {
            "tenant": identity.tenant,
            "user": identity.user,
            "scopes": sorted(identity.scopes),
            "ctx_tenant": ctx.tenant,
            "ctx_user": ctx.user,
            "ctx_scopes": sorted(ctx.scopes),
            "ctx_token": getattr(ctx, "token", None),
        }

    @router.post("/v1/admin")
    async def admin(identity: Annotated[Identity, Depends(require_identity("chat", "admin"))]) -> dict[str, str]:
        return {"tenant": identity.tenant}

    return router


def build_app(tmp_path: Path, public_key: str | None) -> FastAPI:
    mesh = MeshSettings(home=tmp_path, token_public_key=public_key)
    return create_service_app(settings=ServiceSettings(name=SERVICE, mesh=mesh), routers=[guarded_router()])


@pytest.fixture
async def client(tmp_path: Path, token_keys: tuple[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(tmp_path, token_keys[1])
    async with asgi_client(app, "http://svc") as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def problem_code(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json")
    return str(response.json()["code"])


def tamper(token: str) -> str:
    """Flip one byte of the signature (decoded, so the change is not lost in base64 padding bits)."""
    head, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 0x01
    return f"{head}.{payload}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"


def test_issue_verify_round_trip(token_keys: tuple[str, str]) -> None:
    token = ServiceTokenIssuer(token_keys[0]).issue(
        tenant="acme", user="alice", scopes=["chat", "ingest"], audience=SERVICE
    )
    identity = ServiceTokenVerifier([token_keys[1]], SERVICE).verify(token)
    assert identity == Identity(tenant="acme", user="alice", scopes=frozenset({"chat", "ingest"}))
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == ISSUER
    assert claims["aud"] == SERVICE  # one audience, a string: never a list of services
    assert claims["exp"] - claims["iat"] == 300


def test_a_token_outlives_the_deadline_of_the_request_it_serves(token_keys: tuple[str, str]) -> None:
    issuer = ServiceTokenIssuer(token_keys[0], ttl_s=60)

    def lifetime(deadline_in_s: float) -> int:
        # In a context of its own: a request context bound here must not leak into later tests.
        def mint() -> str:
            bind_context(RequestContext(deadline=time.time() + deadline_in_s))
            return issuer.issue(tenant="a", user="u", scopes=[], audience=SERVICE)

        claims = jwt.decode(contextvars.Context().run(mint), options={"verify_signature": False})
        return int(claims["exp"] - claims["iat"])

    assert 600 < lifetime(600) <= 606  # a turn allowed ten minutes
    assert lifetime(5) == 60  # a short one keeps the configured lifetime
    assert lifetime(10**6) == 3600  # never over an hour


def test_token_naming_several_audiences_is_refused_by_each(token_keys: tuple[str, str]) -> None:
    """A token that lists several audiences (as tokens forwarded down a chain once did) opens none."""
    private = ServiceTokenIssuer(token_keys[0])._key
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "a", "tenant": "t", "scopes": [], "aud": ["assistant", SERVICE],
              "iat": now, "exp": now + 60}  # fmt: skip
    token = jwt.encode(claims, private, algorithm="EdDSA")  # type: ignore[arg-type]
    for audience in ("assistant", SERVICE):
        with pytest.raises(Forbidden) as caught:
            ServiceTokenVerifier([token_keys[1]], audience).verify(token)
        assert caught.value.code == "wrong_audience"


def test_rotation_accepts_the_previous_key_too(token_keys: tuple[str, str]) -> None:
    new_private, new_public = generate_keypair()
    verifier = ServiceTokenVerifier([new_public, token_keys[1]], SERVICE)  # current, then previous
    for private in (new_private, token_keys[0]):
        token = ServiceTokenIssuer(private).issue(tenant="acme", user="a", scopes=[], audience=SERVICE)
        assert verifier.verify(token).tenant == "acme"
    stranger = ServiceTokenIssuer(generate_keypair()[0]).issue(tenant="acme", user="a", scopes=[], audience=SERVICE)
    with pytest.raises(Unauthorized) as caught:
        verifier.verify(stranger)
    assert caught.value.code == "invalid_token"


def test_clock_skew_within_the_leeway_is_tolerated(token_keys: tuple[str, str]) -> None:
    token = ServiceTokenIssuer(token_keys[0], ttl_s=-3).issue(tenant="acme", user="a", scopes=[], audience=SERVICE)
    assert ServiceTokenVerifier([token_keys[1]], SERVICE, leeway_s=5).verify(token).user == "a"
    with pytest.raises(Unauthorized) as caught:
        ServiceTokenVerifier([token_keys[1]], SERVICE, leeway_s=1).verify(token)
    assert caught.value.code == "token_expired"


def test_rotation_settings_list_current_then_previous(tmp_path: Path, token_keys: tuple[str, str]) -> None:
    _, old_public = generate_keypair()
    mesh = MeshSettings(home=tmp_path, token_public_key=token_keys[1], token_previous_public_key=old_public)
    assert mesh.public_key_pems() == [token_keys[1], old_public]
    assert MeshSettings(home=tmp_path).public_key_pems() == []


def test_verified_token_is_remembered_until_it_expires(
    token_keys: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer = ServiceTokenIssuer(token_keys[0], ttl_s=60)
    verifier = ServiceTokenVerifier([token_keys[1]], SERVICE, cache_size=2)
    token = issuer.issue(tenant="acme", user="a", scopes=["chat"], audience=SERVICE)
    first = verifier.verify(token)
    decodes = 0
    original = jwt.decode

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal decodes
        decodes += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    assert verifier.verify(token) == first
    assert decodes == 0  # served from the cache
    with pytest.raises(Unauthorized) as caught:  # a tampered token never matches a cached one
        verifier.verify(tamper(token))
    assert caught.value.code == "invalid_token"
    for user in ("b", "c"):  # bounded: the oldest entry is evicted
        verifier.verify(issuer.issue(tenant="acme", user=user, scopes=[], audience=SERVICE))
    verifier.verify(token)
    assert decodes == 4
    brief = ServiceTokenIssuer(token_keys[0], ttl_s=1).issue(tenant="acme", user="a", scopes=[], audience=SERVICE)
    strict = ServiceTokenVerifier([token_keys[1]], SERVICE, cache_size=2, leeway_s=0)
    strict.verify(brief)
    expires = jwt.decode(brief, options={"verify_signature": False})["exp"]
    wait_until_sync(lambda: time.time() > expires, timeout=2.0, what="past exp")  # verified again, and refused
    with pytest.raises(Unauthorized) as caught:
        strict.verify(brief)
    assert caught.value.code == "token_expired"


def test_expired_token_is_401_token_expired(token_keys: tuple[str, str]) -> None:
    token = ServiceTokenIssuer(token_keys[0], ttl_s=-30).issue(tenant="acme", user="a", scopes=[], audience=SERVICE)
    with pytest.raises(Unauthorized) as caught:
        ServiceTokenVerifier([token_keys[1]], SERVICE).verify(token)
    assert (caught.value.status, caught.value.code) == (401, "token_expired")


def test_wrong_audience_is_403(token_keys: tuple[str, str]) -> None:
    token = ServiceTokenIssuer(token_keys[0]).issue(tenant="acme", user="a", scopes=[], audience="llm")
    with pytest.raises(Forbidden) as caught:
        ServiceTokenVerifier([token_keys[1]], SERVICE).verify(token)
    assert (caught.value.status, caught.value.code) == (403, "wrong_audience")


def test_tampered_signature_is_401(token_keys: tuple[str, str]) -> None:
    token = ServiceTokenIssuer(token_keys[0]).issue(tenant="acme", user="a", scopes=[], audience=SERVICE)
    with pytest.raises(Unauthorized) as caught:
        ServiceTokenVerifier([token_keys[1]], SERVICE).verify(tamper(token))
    assert (caught.value.status, caught.value.code) == (401, "invalid_token")


def test_token_signed_by_another_key_is_401(token_keys: tuple[str, str]) -> None:
    other_private, _ = generate_keypair()
    token = ServiceTokenIssuer(other_private).issue(tenant="acme", user="a", scopes=[], audience=SERVICE)
    with pytest.raises(Unauthorized) as caught:
        ServiceTokenVerifier([token_keys[1]], SERVICE).verify(token)
    assert caught.value.code == "invalid_token"


def test_token_from_another_issuer_is_401(token_keys: tuple[str, str]) -> None:
    private = ServiceTokenIssuer(token_keys[0])._key
    claims = {"iss": "someone-else", "sub": "a", "tenant": "t", "scopes": [], "aud": SERVICE, "iat": 0, "exp": 2**40}
    token = jwt.encode(claims, private, algorithm="EdDSA")  # type: ignore[arg-type]
    with pytest.raises(Unauthorized) as caught:
        ServiceTokenVerifier([token_keys[1]], SERVICE).verify(token)
    assert caught.value.code == "invalid_token"


def test_signed_token_without_tenant_is_401_not_a_crash(token_keys: tuple[str, str]) -> None:
    private = ServiceTokenIssuer(token_keys[0])._key
    claims = {"iss": ISSUER, "sub": "a", "scopes": [], "aud": SERVICE, "iat": 0, "exp": 2**40}
    token = jwt.encode(claims, private, algorithm="EdDSA")  # type: ignore[arg-type]
    with pytest.raises(Unauthorized) as caught:
        ServiceTokenVerifier([token_keys[1]], SERVICE).verify(token)
    assert caught.value.code == "invalid_token"
    assert "tenant" in caught.value.detail


def test_unsigned_token_is_401(token_keys: tuple[str, str]) -> None:
    claims = {"iss": ISSUER, "sub": "a", "tenant": "t", "scopes": [], "aud": SERVICE, "iat": 0, "exp": 2**40}
    token = jwt.encode(claims, "", algorithm="none")
    with pytest.raises(Unauthorized):
        ServiceTokenVerifier([token_keys[1]], SERVICE).verify(token)


async def test_valid_token_binds_identity_into_the_request_context(
    client: httpx.AsyncClient, issue_token: Callable[..., str]
) -> None:
    token = issue_token([SERVICE], tenant="globex", user="bob", scopes=("chat", "ingest"))
    response = await client.get("/v1/whoami", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "tenant": "globex",
        "user": "bob",
        "scopes": ["chat", "ingest"],
        "ctx_tenant": "globex",
        "ctx_user": "bob",
        "ctx_scopes": ["chat", "ingest"],
        "ctx_token": None,  # the bearer token is not kept in the context: nothing can forward it
    }


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc"])
async def test_missing_bearer_is_401(client: httpx.AsyncClient, header: str | None) -> None:
    headers = {} if header is None else {"authorization": header}
    response = await client.get("/v1/whoami", headers=headers)
    assert response.status_code == 401
    assert problem_code(response) == "missing_token"


async def test_expired_token_over_http_is_401(client: httpx.AsyncClient, token_keys: tuple[str, str]) -> None:
    token = ServiceTokenIssuer(token_keys[0], ttl_s=-30).issue(
        tenant="acme", user="a", scopes=["chat"], audience=SERVICE
    )
    response = await client.get("/v1/whoami", headers=bearer(token))
    assert response.status_code == 401
    assert problem_code(response) == "token_expired"


async def test_wrong_audience_over_http_is_403(client: httpx.AsyncClient, issue_token: Callable[..., str]) -> None:
    response = await client.get("/v1/whoami", headers=bearer(issue_token(["llm"])))
    assert response.status_code == 403
    assert problem_code(response) == "wrong_audience"


async def test_tampered_token_over_http_is_401(client: httpx.AsyncClient, issue_token: Callable[..., str]) -> None:
    response = await client.get("/v1/whoami", headers=bearer(tamper(issue_token([SERVICE], scopes=("chat",)))))
    assert response.status_code == 401
    assert problem_code(response) == "invalid_token"


async def test_foreign_key_over_http_is_401(client: httpx.AsyncClient) -> None:
    token = ServiceTokenIssuer(generate_keypair()[0]).issue(tenant="acme", user="a", scopes=["chat"], audience=SERVICE)
    response = await client.get("/v1/whoami", headers=bearer(token))
    assert response.status_code == 401
    assert problem_code(response) == "invalid_token"


async def test_missing_scope_is_403(client: httpx.AsyncClient, issue_token: Callable[..., str]) -> None:
    response = await client.post("/v1/admin", headers=bearer(issue_token([SERVICE], scopes=("chat",))))
    assert response.status_code == 403
    assert problem_code(response) == "missing_scope"
    assert "admin" in response.json()["detail"]
    granted = await client.post("/v1/admin", headers=bearer(issue_token([SERVICE], scopes=("chat", "admin"))))
    assert granted.status_code == 200
    assert granted.json() == {"tenant": "acme"}


async def test_service_without_a_public_key_refuses_every_token(
    tmp_path: Path, issue_token: Callable[..., str]
) -> None:
    app = build_app(tmp_path, None)  # and no key file under tmp_path/keys
    async with asgi_client(app, "http://svc") as c:
        response = await c.get("/v1/whoami", headers=bearer(issue_token([SERVICE], scopes=("chat",))))
    assert response.status_code == 401
    assert problem_code(response) == "no_key"


async def test_public_key_is_read_from_the_mesh_home(
    tmp_path: Path, token_keys: tuple[str, str], issue_token: Callable[..., str]
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "service_token.pub.pem").write_text(token_keys[1])
    app = build_app(tmp_path, None)
    async with asgi_client(app, "http://svc") as c:
        response = await c.get("/v1/whoami", headers=bearer(issue_token([SERVICE], user="carol", scopes=("chat",))))
    assert response.status_code == 200
    assert response.json()["user"] == "carol"
