"""``meshline.Client``: the synchronous Python client of a Meshline mesh."""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from meshline.contracts import ChatResponse, DoneEvent, ErrorEvent, StreamEvent, ThreadView, TokenPolicy
from meshline.sdk import _common as common
from meshline.sdk.discovery import discover
from meshline.sdk.errors import connection_error, error_from_problem, error_from_response
from meshline.sdk.keys import Keys
from meshline.sdk.knowledge_bases import Jobs, KnowledgeBases
from meshline.sdk.models import AgentInfo, Readiness, ServiceInfo
from meshline.sse import iter_sse


class Client:
    """Talks to the orchestrator over HTTP.

    ``base_url`` and ``api_key`` default to ``MESHLINE_URL``/``MESHLINE_API_KEY``, then to the
    ``.meshline/mesh.json`` that ``meshline up`` writes (see :mod:`meshline.sdk.discovery`).
    Every failure raises a :class:`~meshline.sdk.errors.MeshlineAPIError` subclass.

    >>> with Client() as client:
    ...     reply = client.chat("Where is my order 1042?")
    """

    def __init__(self, base_url: str | None = None, api_key: str | None = None, timeout: float = 120.0) -> None:
        target = discover(base_url, api_key)
        self.base_url = target.url
        self.api_key = target.api_key
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=common.default_headers(self.api_key),
            timeout=common.client_timeout(timeout),
        )
        self.threads = Threads(self)
        self.services = Services(self)
        self.keys = Keys(self)
        self.knowledge = KnowledgeBases(self)
        self.jobs = Jobs(self)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _request(
        self, method: str, path: str, *, json: Any = None, http_timeout: httpx.Timeout | None = None
    ) -> httpx.Response:
        try:
            response = self._http.request(
                method, path, json=json, timeout=http_timeout or common.client_timeout(self.timeout)
            )
        except httpx.HTTPError as exc:
            raise connection_error(self.base_url, exc) from exc
        if response.status_code >= 400:
            raise error_from_response(response, response.content)
        return response

    def chat(
        self,
        message: str,
        *,
        thread_id: str | None = None,
        agent: str | None = None,
        user: str | None = None,
        timeout_s: float | None = None,
    ) -> ChatResponse:
        """Send one message and wait for the whole answer.

        Omit ``thread_id`` to start a new thread (its id is in the response); ``agent`` pins the
        turn to one agent; ``user`` names the end user when the key has none; ``timeout_s`` is
        the deadline of the whole turn on the server.
        """
        body = common.chat_body(message, thread_id=thread_id, agent=agent, user=user, timeout_s=timeout_s, stream=False)
        response = self._request(
            "POST", "/v1/chat", json=body, http_timeout=common.turn_timeout(self.timeout, timeout_s)
        )
        return ChatResponse.model_validate_json(response.content)

    def stream(
        self,
        message: str,
        *,
        thread_id: str | None = None,
        agent: str | None = None,
        user: str | None = None,
        timeout_s: float | None = None,
    ) -> Iterator[StreamEvent]:
        """Send one message and yield typed events as they come: route, delta, tool, then done.

        A ``reset`` event says to discard the text shown so far for its agent (the attempt that
        streamed it did not answer); the deltas after it are the answer. Joined that way, the
        deltas are the done event's ``response.content``.

        The request is sent when iteration starts. An ``error`` event raises the matching
        :class:`~meshline.sdk.errors.MeshlineAPIError` instead of being yielded.
        """
        body = common.chat_body(message, thread_id=thread_id, agent=agent, user=user, timeout_s=timeout_s, stream=True)
        timeout = common.turn_timeout(self.timeout, timeout_s)
        try:
            with self._http.stream(
                "POST", "/v1/chat", json=body, headers=common.stream_headers(), timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    raise error_from_response(response, response.read())
                for message_ in iter_sse(response):
                    event = common.parse_event(message_)
                    if event is None:
                        continue
                    if isinstance(event, ErrorEvent):
                        raise error_from_problem(event.problem)
                    yield event
                    if isinstance(event, DoneEvent):
                        return
        except httpx.HTTPError as exc:
            raise connection_error(self.base_url, exc) from exc
        raise common.incomplete_stream(self.base_url)

    def readiness(self) -> Readiness:
        """The orchestrator's ``/readyz``: ready or not, and each dependency's check."""
        try:
            response = self._http.get("/readyz", timeout=common.client_timeout(min(self.timeout, 10.0)))
        except httpx.HTTPError as exc:
            raise connection_error(self.base_url, exc) from exc
        if response.status_code not in (200, 503):
            raise error_from_response(response, response.content)
        return common.readiness_from(response)


class Threads:
    """``client.threads``: read and delete conversation threads."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get(self, thread_id: str) -> ThreadView:
        """The thread's messages."""
        response = self._client._request("GET", f"/v1/threads/{quote(thread_id, safe='')}")
        return ThreadView.model_validate_json(response.content)

    def delete(self, thread_id: str) -> None:
        """Forget the thread."""
        self._client._request("DELETE", f"/v1/threads/{quote(thread_id, safe='')}")


class Services:
    """``client.services``: the registry of agent and tool services (platform admin; ``agents()``: any chat key)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def register(
        self, url: str, *, protocol: str | None = None, name: str | None = None, token_policy: TokenPolicy = "own"
    ) -> ServiceInfo:
        """Register the service at ``url`` (its manifest is fetched and its health checked).

        An MCP server's endpoint URL works too (``protocol="mcp"``, or found when ``url`` serves no
        manifest); ``name`` names it in the registry (default: the server's own name).
        ``token_policy``: ``"own"`` (each call carries a token valid for that service alone) or
        ``"none"`` (no token: a third-party server that needs no Meshline identity).
        """
        body = {"url": url, "protocol": protocol, "name": name, "token_policy": token_policy}
        response = self._client._request("POST", "/v1/services", json={k: v for k, v in body.items() if v is not None})
        return ServiceInfo.model_validate_json(response.content)

    def agents(self) -> list[AgentInfo]:
        """The agents a chat turn can go to, by name and description (any chat-scope key)."""
        response = self._client._request("GET", "/v1/agents")
        return [AgentInfo.model_validate(a) for a in response.json().get("agents", [])]

    def list(self) -> list[ServiceInfo]:
        """Every registered service with its instances and their health (platform admin)."""
        response = self._client._request("GET", "/v1/services")
        return [ServiceInfo.model_validate(s) for s in response.json().get("services", [])]

    def remove(self, name: str) -> None:
        """Unregister every instance of ``name``."""
        self._client._request("DELETE", f"/v1/services/{quote(name, safe='')}")
