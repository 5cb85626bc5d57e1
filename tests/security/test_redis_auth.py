"""Redis behind credentials: the Redis every test and mesh runs refuses unauthenticated commands.

The session's redis-server (tests/conftest.py) is started like ``meshline up``'s, with
``requirepass``; ``rediss://`` URLs reach a TLS-only redis-server with the same client code
the services use (``Redis.from_url``).
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
import redis.asyncio as aioredis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from meshline.cli.ports import free_port
from meshline.cli.private_files import new_secret
from meshline.cli.redis_server import RedisTls, redis_url_for, start_redis
from meshline.service.settings import MeshSettings

UNAUTHENTICATED = [("PING",), ("GET", "meshline:keys:any"), ("SET", "x", "1"), ("KEYS", "*"), ("CONFIG", "GET", "*")]


def without_password(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=f"{parts.hostname}:{parts.port}").geturl()


@pytest.mark.parametrize("command", UNAUTHENTICATED, ids=lambda c: c[0])
def test_the_suites_redis_refuses_unauthenticated_commands(redis_server: str, command: tuple[str, ...]) -> None:
    assert urlsplit(redis_server).password  # the fixture hands out the URL with its credentials
    anonymous = redis.Redis.from_url(without_password(redis_server), socket_timeout=5)
    with pytest.raises(redis.AuthenticationError):
        anonymous.execute_command(*command)
    anonymous.close()


def test_a_wrong_password_is_refused_and_the_right_one_works(redis_server: str) -> None:
    wrong = urlsplit(redis_server)._replace(netloc=f":wrong@{urlsplit(redis_server).netloc.split('@')[1]}")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(wrong.geturl(), socket_timeout=5).ping()
    right = redis.Redis.from_url(redis_server, socket_timeout=5)
    assert right.ping()
    right.close()


async def test_services_connect_with_the_credentials_in_their_settings(
    redis_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every service builds its client as Redis.from_url(settings.mesh.redis_url).
    monkeypatch.setenv("MESHLINE_REDIS_URL", redis_server)
    client = aioredis.Redis.from_url(MeshSettings().redis_url, socket_timeout=5)
    assert await client.ping()
    await client.aclose()


def test_the_password_is_not_on_redis_servers_command_line(tmp_path: Path) -> None:
    port, password = free_port(), new_secret()
    proc = start_redis(port, password=password)
    try:
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert password.encode() not in cmdline
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _certificate(folder: Path) -> RedisTls:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "redis.crt", folder / "redis.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return RedisTls(cert_file=cert_file, key_file=key_file, ca_file=cert_file)


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[int, str, RedisTls]]:
    """A TLS-only redis-server with a password (this redis-server is built with TLS)."""
    tls, port, password = _certificate(tmp_path), free_port(), new_secret()
    proc = start_redis(port, password=password, tls=tls)
    yield port, password, tls
    proc.terminate()
    proc.wait(timeout=10)


async def test_a_rediss_url_reaches_a_tls_redis_and_plain_or_anonymous_clients_do_not(
    tls_redis: tuple[int, str, RedisTls],
) -> None:
    port, password, tls = tls_redis
    url = redis_url_for(port, password, tls=tls)
    assert url.startswith("rediss://:")
    client = aioredis.Redis.from_url(url, socket_timeout=5)  # the services' client, verifying the certificate
    await client.set("meshline:tls", "yes")
    assert await client.get("meshline:tls") == b"yes"
    await client.aclose()
    with pytest.raises(redis.ConnectionError):  # plain TCP to a TLS port
        redis.Redis.from_url(redis_url_for(port, password), socket_timeout=2, socket_connect_timeout=2).ping()
    with pytest.raises(redis.AuthenticationError):  # TLS without the password
        redis.Redis.from_url(redis_url_for(port, None, tls=tls), socket_timeout=5).ping()


def test_a_password_that_could_break_the_config_is_refused() -> None:
    with pytest.raises(ValueError, match="line breaks"):
        start_redis(free_port(), password="pw\nrequirepass other")
