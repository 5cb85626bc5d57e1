"""A closed surface, checked on a running mesh of real processes (the bundled model server included).

One module-scoped mesh, started like ``meshline up`` starts its own (same process specs, same
secrets, same supervisor): Redis refuses anyone without the password, no API docs are served,
``/metrics`` wants its token, the local model server answers only the key the LLM layer holds,
nothing listens beyond loopback, no secret sits in Redis, and everything under the home is
private (directories 0700, files 0600).
"""

from __future__ import annotations

import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from meshline.cli.local_mesh import ProcessSpec
from meshline.testing.mesh import TestMesh, run_test_mesh
from meshline.testing.redis_dump import dump_redis

pytestmark = [pytest.mark.e2e, pytest.mark.model]
LOCAL_MODEL = "local-model"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestMesh]:
    home = tmp_path_factory.mktemp("surface") / ".meshline"
    with run_test_mesh(home, local_model=True, services={"general", "crm"}) as running:
        yield running


def services(mesh: TestMesh) -> list[ProcessSpec]:
    """The Meshline services of the mesh (built by create_service_app), without the model server."""
    return [spec for spec in mesh.specs.values() if spec.name != LOCAL_MODEL]


def problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    return body


def test_the_mesh_redis_refuses_unauthenticated_commands(mesh: TestMesh) -> None:
    url = urlsplit(mesh.redis_url)
    assert url.password == mesh.secrets.redis_password
    anonymous = redis.Redis(host="127.0.0.1", port=mesh.redis_port, socket_timeout=5)
    for command in (("PING",), ("KEYS", "*"), ("GET", "meshline:llm:registry"), ("FLUSHALL",)):
        with pytest.raises(redis.AuthenticationError):
            anonymous.execute_command(*command)
    anonymous.close()
    # ...while every service got in with the credentials from its settings.
    for spec in services(mesh):
        ready = httpx.get(spec.url + "/readyz", timeout=10)
        assert ready.status_code == 200, (spec.name, ready.text)


def test_api_docs_are_not_served(mesh: TestMesh) -> None:
    for spec in services(mesh):
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert httpx.get(spec.url + path, timeout=10).status_code == 404, (spec.name, path)


def test_metrics_refuse_a_scrape_without_the_token(mesh: TestMesh) -> None:
    for spec in services(mesh):
        for headers in ({}, {"authorization": "Bearer not-the-token"}):
            body = problem(httpx.get(spec.url + "/metrics", headers=headers, timeout=10), 401)
            assert body["code"] in {"missing_token", "invalid_token"}, spec.name
        scraped = httpx.get(spec.url + "/metrics", headers=mesh.metrics_headers, timeout=10)
        assert scraped.status_code == 200 and "meshline_http_requests_total" in scraped.text, spec.name


def test_the_local_model_server_answers_only_its_key(mesh: TestMesh) -> None:
    model = mesh.specs[LOCAL_MODEL]
    ask = {"model": "smollm2", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
    for headers in ({}, {"authorization": "Bearer local"}, {"authorization": "Bearer fake"}):
        assert httpx.get(model.url + "/v1/models", headers=headers, timeout=10).status_code == 401
        assert httpx.post(model.url + "/v1/chat/completions", json=ask, headers=headers, timeout=30).status_code == 401
    key = {"authorization": f"Bearer {mesh.secrets.local_model_key}"}
    assert httpx.get(model.url + "/v1/models", headers=key, timeout=10).status_code == 200
    # The LLM layer is ready only when the model answers its probe: it holds and sends the key.
    llm = httpx.get(mesh.specs["llm"].url + "/readyz", timeout=10).json()
    assert llm["checks"]["models"] == "ok"


def test_only_the_llm_layer_and_the_model_server_hold_the_model_key(mesh: TestMesh) -> None:
    key = mesh.secrets.local_model_key.encode()
    holders = set()
    for name, (_, proc) in mesh.supervisor.procs.items():
        assert key not in Path(f"/proc/{proc.pid}/cmdline").read_bytes(), name  # not in the process list
        if key in Path(f"/proc/{proc.pid}/environ").read_bytes():
            holders.add(name)
    assert holders == {"llm", LOCAL_MODEL}


def _outside_address() -> str | None:
    """An address of this machine other than loopback, if it has one (UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_nothing_listens_beyond_loopback(mesh: TestMesh) -> None:
    address = _outside_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback")
    for port in [mesh.redis_port, *(spec.port for spec in mesh.specs.values())]:
        with pytest.raises(OSError), socket.create_connection((address, port), timeout=2):
            pass


def test_no_secret_sits_in_redis(mesh: TestMesh) -> None:
    stored = dump_redis(mesh.redis_url)
    assert "meshline:llm:registry" in stored  # the dump reads what the services wrote
    private_key = (mesh.home / "keys" / "service_token.pem").read_text().splitlines()[1]
    secrets = {
        "the model server's key": mesh.secrets.local_model_key,
        "the metrics token": mesh.secrets.metrics_token,
        "the Redis password": mesh.secrets.redis_password,
        "the admin key": mesh.admin_key,
        "the dev API key": mesh.api_key,
        "the token signing key": private_key,
    }
    assert [name for name, secret in secrets.items() if secret in stored] == []


def test_everything_under_the_home_is_private(mesh: TestMesh) -> None:
    entries = [mesh.home, *mesh.home.rglob("*")]
    kinds = {"dirs": 0, "files": 0}
    wrong = {}
    for path in entries:
        info = path.lstat()
        if stat.S_ISDIR(info.st_mode):
            kinds["dirs"] += 1
            expected = 0o700
        elif stat.S_ISREG(info.st_mode):
            kinds["files"] += 1
            expected = 0o600
        else:
            continue
        if stat.S_IMODE(info.st_mode) != expected:
            wrong[str(path.relative_to(mesh.home))] = oct(stat.S_IMODE(info.st_mode))
    assert wrong == {}
    names = {p.name for p in entries}
    # What the mesh wrote: keys, secrets, logs, Redis's AOF, the tool services' SQLite, Chroma.
    assert {"service_token.pem", "redis_password", "metrics_token", "local_model_key", "llm.log"} <= names
    assert any(name.endswith(".aof") for name in names)
    assert kinds["files"] > 10
