"""The general agent over HTTP: manifest, JSON invoke, auth, validation, LLM-layer failures, readiness."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import respx

from meshline.agents.assistant.profile import load_profile
from meshline.contracts import AgentResult, Manifest, ProblemDetails
from meshline.testing.scripted_model import Reply, Usage, completion_json
from tests.agents.assistant.llm_standin import COMPLETIONS, LLM_TOKEN, sent_json, task_body

PROBLEM_JSON = "application/problem+json"


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def problem_of(response: httpx.Response) -> ProblemDetails:
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    return ProblemDetails.model_validate(response.json())


async def test_manifest_describes_the_general_agent_without_auth(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/manifest")

    assert response.status_code == 200
    manifest = Manifest.model_validate(response.json())
    assert (manifest.name, manifest.kind, manifest.uses) == ("general", "agent", ["crm"])  # for the handover
    assert 10 <= len(manifest.examples) <= 25
    assert "human" in manifest.description
    assert manifest.examples == load_profile("general").examples


async def test_invoke_sends_prompt_memories_and_conversation_to_the_llm_layer(
    client: httpx.AsyncClient, llm: respx.MockRouter, token: str
) -> None:
    route = llm.post(COMPLETIONS).respond(
        200, json=completion_json(Reply(text="Hi! How can I help?", usage=Usage(prompt_tokens=40, completion_tokens=7)))
    )
    conversation = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "can I talk to a person?"},
    ]
    body = task_body(messages=conversation, memories=["Prefers contact by email", "Lives in Lyon"])

    response = await client.post("/v1/invoke", json=body, headers=auth(token))

    assert response.status_code == 200, response.text
    result = AgentResult.model_validate(response.json())
    assert (result.task_id, result.agent, result.content) == ("task-1", "general", "Hi! How can I help?")
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.total_tokens) == (40, 7, 47)

    sent = sent_json(route)
    assert sent["model"] == "default" and sent["stream"] is False
    system = sent["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith(load_profile("general").system_prompt.strip())
    assert "What you know about this user:\n- Prefers contact by email\n- Lives in Lyon" in system["content"]
    assert sent["messages"][1:] == conversation
    # The LLM layer gets the task's LLM token, never the token the agent was called with.
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {LLM_TOKEN}" != f"Bearer {token}"
    assert request.headers["traceparent"].startswith("00-")


async def test_invoke_without_memories_sends_the_bare_system_prompt(
    client: httpx.AsyncClient, llm: respx.MockRouter, token: str
) -> None:
    route = llm.post(COMPLETIONS).respond(200, json=completion_json(Reply(text="Hello!")))

    response = await client.post("/v1/invoke", json=task_body(), headers=auth(token))

    assert response.status_code == 200
    messages = sent_json(route)["messages"]
    assert messages[0] == {"role": "system", "content": load_profile("general").system_prompt.strip()}
    assert messages[1:] == [{"role": "user", "content": "hello!"}]


async def test_missing_token_is_401(client: httpx.AsyncClient, llm: respx.MockRouter) -> None:
    route = llm.post(COMPLETIONS).respond(200, json=completion_json(Reply(text="never")))

    response = await client.post("/v1/invoke", json=task_body())

    assert response.status_code == 401
    assert problem_of(response).code == "missing_token"
    assert not route.called


async def test_token_for_another_agent_is_403(
    client: httpx.AsyncClient, llm: respx.MockRouter, issue_token: Callable[..., str]
) -> None:
    route = llm.post(COMPLETIONS).respond(200, json=completion_json(Reply(text="never")))
    other = issue_token(audience="commerce")

    response = await client.post("/v1/invoke", json=task_body(), headers=auth(other))

    assert response.status_code == 403
    assert problem_of(response).code == "wrong_audience"
    assert not route.called


async def test_token_without_the_invoke_scope_is_403(
    client: httpx.AsyncClient, issue_token: Callable[..., str]
) -> None:
    ingest_only = issue_token(audience="general", scopes=("knowledge:write",))

    response = await client.post("/v1/invoke", json=task_body(), headers=auth(ingest_only))

    assert response.status_code == 403
    assert problem_of(response).code == "missing_scope"


async def test_the_llm_layers_token_does_not_open_the_agent(
    client: httpx.AsyncClient, issue_token: Callable[..., str]
) -> None:
    response = await client.post("/v1/invoke", json=task_body(), headers=auth(issue_token(audience="llm")))

    assert response.status_code == 403
    assert problem_of(response).code == "wrong_audience"


async def test_malformed_task_is_422_problem(client: httpx.AsyncClient, token: str) -> None:
    response = await client.post(
        "/v1/invoke", json={"task_id": "t", "thread_id": "th", "messages": []}, headers=auth(token)
    )

    assert response.status_code == 422
    problem = problem_of(response)
    assert problem.code == "validation_error"
    assert problem.errors and problem.errors[0]["loc"] == ["body", "messages"]


async def test_llm_layer_unavailable_is_a_retryable_problem(
    client: httpx.AsyncClient, llm: respx.MockRouter, token: str
) -> None:
    outage = {
        "type": "https://meshline.dev/problems/unavailable",
        "title": "Service unavailable",
        "status": 503,
        "detail": "no healthy deployment for 'default'",
        "code": "no_healthy_deployment",
        "retryable": True,
    }
    route = llm.post(COMPLETIONS).respond(503, json=outage, headers={"content-type": "application/problem+json"})

    response = await client.post("/v1/invoke", json=task_body(), headers=auth(token))

    assert response.status_code in (502, 503)
    problem = problem_of(response)
    assert problem.retryable is True
    assert problem.code == "no_healthy_deployment"
    assert "no healthy deployment" in problem.detail
    assert route.call_count >= 2  # a 503 is refused work: the resilient client tried again


async def test_llm_layer_gateway_error_in_openai_shape_is_retryable(
    client: httpx.AsyncClient, llm: respx.MockRouter, token: str
) -> None:
    llm.post(COMPLETIONS).respond(502, json={"error": {"message": "provider down", "type": "server_error"}})

    response = await client.post("/v1/invoke", json=task_body(), headers=auth(token))

    assert response.status_code in (502, 503)
    assert problem_of(response).retryable is True


async def test_llm_answer_without_choices_is_an_upstream_error(
    client: httpx.AsyncClient, llm: respx.MockRouter, token: str
) -> None:
    llm.post(COMPLETIONS).respond(200, json={"id": "x", "object": "chat.completion", "choices": []})

    response = await client.post("/v1/invoke", json=task_body(), headers=auth(token))

    assert response.status_code == 502
    assert problem_of(response).code == "bad_llm_response"


async def test_ready_only_while_the_llm_layer_answers(client: httpx.AsyncClient, llm: respx.MockRouter) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"llm": "ok"}

    llm.get("/healthz").respond(503, json={"status": "down"})
    not_ready = await client.get("/readyz")

    assert not_ready.status_code == 503
    assert not_ready.json()["checks"]["llm"].startswith("error")
