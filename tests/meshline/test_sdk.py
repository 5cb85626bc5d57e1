"""The SDK against a real HTTP stand-in of the orchestrator API (see sdk_standin.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

import meshline
from meshline.cli.ports import free_port
from meshline.sdk import (
    APIConnectionError,
    AsyncClient,
    AuthenticationError,
    Client,
    DeltaEvent,
    DoneEvent,
    InvalidRequestError,
    MeshlineAPIError,
    NotFoundError,
    ResetEvent,
    RouteEvent,
    ServiceUnavailableError,
    discover,
)
from tests.meshline.sdk_standin import GOOD_KEY, serve_standin


@pytest.fixture(scope="module")
def standin() -> Iterator[tuple[str, FastAPI]]:
    with serve_standin() as served:
        yield served


@pytest.fixture
def url(standin: tuple[str, FastAPI]) -> str:
    standin[1].state.services.clear()
    return standin[0]


@pytest.fixture
def client(url: str) -> Iterator[Client]:
    with Client(url, GOOD_KEY, timeout=10) as c:
        yield c


def test_top_level_package_exports_the_clients() -> None:
    assert meshline.Client is Client
    assert meshline.AsyncClient is AsyncClient


def test_chat_returns_a_typed_response(client: Client) -> None:
    reply = client.chat("world", thread_id="t-9")
    assert reply.content == "Hello world"
    assert reply.thread_id == "t-9"
    assert reply.route.agents == ["general"]


def test_stream_yields_typed_events_in_order(client: Client) -> None:
    events = list(client.stream("world"))
    assert [type(e) for e in events] == [RouteEvent, DeltaEvent, DeltaEvent, DeltaEvent, DoneEvent]
    assert "".join(e.text for e in events if isinstance(e, DeltaEvent)) == "Hello world"
    done = events[-1]
    assert isinstance(done, DoneEvent)
    assert done.response.thread_id == "t-new"


def test_stream_yields_a_reset_and_the_text_after_it_is_the_reply(client: Client) -> None:
    events = list(client.stream("redo"))
    resets = [e for e in events if isinstance(e, ResetEvent)]
    assert [(r.agent, r.reason) for r in resets] == [("general", "failed")]
    after = events[events.index(resets[0]) :]
    done = events[-1]
    assert isinstance(done, DoneEvent)
    assert "".join(e.text for e in after if isinstance(e, DeltaEvent)) == done.response.content == "Hello redo"


def test_error_event_in_a_stream_raises_the_matching_error(client: Client) -> None:
    seen = []
    with pytest.raises(ServiceUnavailableError) as info:
        for event in client.stream("boom"):
            seen.append(event)
    assert [type(e) for e in seen] == [RouteEvent]
    assert info.value.status == 503
    assert info.value.retryable is True
    assert "every agent is down" in str(info.value)


def test_a_stream_that_ends_without_done_is_an_error(client: Client) -> None:
    with pytest.raises(APIConnectionError) as info:
        list(client.stream("cut"))
    assert info.value.code == "stream_incomplete"


def test_wrong_key_raises_authentication_error_with_problem_fields(url: str) -> None:
    with Client(url, "ml_wrong") as client, pytest.raises(AuthenticationError) as info:
        client.chat("hi")
    error = info.value
    assert (error.status, error.code, error.trace_id) == (401, "invalid_api_key", "trace-123")
    assert error.detail == "unknown API key"
    assert error.problem.title == "Unauthorized"


def test_wrong_key_on_a_stream_raises_before_any_event(url: str) -> None:
    with Client(url, "ml_wrong") as client, pytest.raises(AuthenticationError):
        next(iter(client.stream("hi")))


def test_threads_get_delete_and_not_found(client: Client) -> None:
    view = client.threads.get("t-1")
    assert view.thread_id == "t-1"
    assert view.messages[0].content == "hi"
    client.threads.delete("t-1")
    with pytest.raises(NotFoundError) as info:
        client.threads.get("missing")
    assert info.value.code == "unknown_thread"


def test_non_problem_error_bodies_still_raise_typed_errors(client: Client) -> None:
    with pytest.raises(MeshlineAPIError) as info:
        client.threads.get("plain500")
    assert info.value.status == 500
    assert info.value.detail == "it broke"
    # FastAPI's own validation body ({"detail": [...]}) maps to InvalidRequestError.
    with pytest.raises(InvalidRequestError) as invalid:
        client.keys.create("", ["chat"])
    assert invalid.value.status == 422
    assert invalid.value.problem.errors


def test_services_register_list_remove_and_keys(client: Client) -> None:
    registered = client.services.register("http://commerce:8102")
    assert registered.name == "commerce"
    assert [s.name for s in client.services.list()] == ["commerce"]
    assert client.services.list()[0].instances[0].healthy is True
    client.services.remove("commerce")
    assert client.services.list() == []
    with pytest.raises(NotFoundError):
        client.services.remove("commerce")
    key = client.keys.create("acme", ["chat"], user="alice")
    assert (key.key, key.tenant, key.user, key.scopes) == ("ml_new", "acme", "alice", ["chat"])


def test_invalid_arguments_fail_before_any_request() -> None:
    with Client(f"http://127.0.0.1:{free_port()}", GOOD_KEY) as client, pytest.raises(InvalidRequestError):
        client.chat("")


def test_unreachable_mesh_raises_connection_error() -> None:
    with Client(f"http://127.0.0.1:{free_port()}", GOOD_KEY, timeout=2) as client:
        with pytest.raises(APIConnectionError) as info:
            client.chat("hi")
        assert info.value.code == "connect_failed"
        with pytest.raises(APIConnectionError):
            list(client.stream("hi"))


async def test_async_client_chat_stream_and_errors(url: str) -> None:
    async with AsyncClient(url, GOOD_KEY, timeout=10) as client:
        reply = await client.chat("async")
        assert reply.content == "Hello async"
        texts = [e.text async for e in client.stream("async") if isinstance(e, DeltaEvent)]
        assert "".join(texts) == "Hello async"
        with pytest.raises(ServiceUnavailableError):
            async for _ in client.stream("boom"):
                pass
        with pytest.raises(NotFoundError):
            await client.threads.get("missing")
        assert (await client.services.register("http://retrieval:8101")).name == "retrieval"
        assert (await client.readiness()).ready is True


# Discovery -------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("MESHLINE_URL", "MESHLINE_API_KEY", "MESHLINE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_mesh_file(folder: Path, url: str, key: str) -> None:
    (folder / ".meshline").mkdir(parents=True)
    (folder / ".meshline" / "mesh.json").write_text(json.dumps({"url": url, "api_key": key, "pids": {}}))


def test_discovery_finds_the_mesh_file_in_a_parent_directory(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_mesh_file(clean_env, "http://127.0.0.1:9123", "ml_file")
    nested = clean_env / "a" / "b"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    target = discover()
    assert (target.url, target.api_key) == ("http://127.0.0.1:9123", "ml_file")
    assert target.source.endswith("mesh.json")


def test_discovery_environment_beats_the_file(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_mesh_file(clean_env, "http://127.0.0.1:9123", "ml_file")
    monkeypatch.setenv("MESHLINE_URL", "http://mesh.example:8000")
    monkeypatch.setenv("MESHLINE_API_KEY", "ml_env")
    target = discover()
    assert (target.url, target.api_key, target.source) == ("http://mesh.example:8000", "ml_env", "environment")
    # Explicit arguments beat both.
    assert discover("http://other:1", "ml_arg").api_key == "ml_arg"


def test_discovery_never_sends_the_file_key_to_another_url(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_mesh_file(clean_env, "http://127.0.0.1:9123", "ml_file")
    monkeypatch.setenv("MESHLINE_URL", "http://mesh.example:8000")
    assert discover().api_key is None
    assert discover("http://127.0.0.1:9123/").api_key == "ml_file"


def test_discovery_meshline_home_and_default(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert discover().url == "http://127.0.0.1:8000"
    assert discover().api_key is None
    home = clean_env / "elsewhere"
    write_mesh_file(home, "http://127.0.0.1:9999", "ml_home")
    monkeypatch.setenv("MESHLINE_HOME", str(home / ".meshline"))
    assert discover().api_key == "ml_home"


def test_client_uses_discovered_settings_against_the_server(
    clean_env: Path, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_mesh_file(clean_env, url, GOOD_KEY)
    with Client() as client:
        assert client.chat("found").content == "Hello found"
