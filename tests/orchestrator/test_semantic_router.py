"""LLM stage (faked at the HTTP boundary with respx), stickiness and multi-intent planning."""

from __future__ import annotations

import httpx
import redis.asyncio as aioredis
import respx

from meshline.orchestrator.routing import LlmChooser, RouteEmbedder
from meshline.resilience.client import ServiceClient
from meshline.testing.scripted_model import Reply, completion_json
from tests.orchestrator.routing_fixtures import AGENTS, default_manifests, make_router

LLM = "http://llm.test"
UNSURE = 1.01  # a threshold no vote reaches: every message goes to the LLM stage


def completion(content: str) -> httpx.Response:
    return httpx.Response(200, json=completion_json(Reply(text=content)))


async def decide_with_llm(
    embedder: RouteEmbedder, redis: aioredis.Redis, reply: httpx.Response | Exception, timeout_s: float = 1.0
) -> tuple[str, str, str | None, dict[str, object]]:
    client = ServiceClient(timeout_s=5)
    try:
        router = make_router(embedder, redis, LlmChooser(client, LLM, "default", timeout_s), threshold=UNSURE)
        with respx.mock(assert_all_called=True) as mock:
            route = mock.post(f"{LLM}/v1/chat/completions")
            route.side_effect = [reply] if isinstance(reply, Exception) else None
            if not isinstance(reply, Exception):
                route.return_value = reply
            plan = await router.decide("my parcel never came", AGENTS, token="tok")
            sent = route.calls.last.request
            body = httpx.Response(200, content=sent.content).json()
    finally:
        await client.aclose()
    assert plan.llm_called
    return plan.decision.agents[0], plan.decision.method, plan.llm_error, body


async def test_a_valid_llm_choice_routes_with_method_llm(route_embedder: RouteEmbedder, aredis: aioredis.Redis) -> None:
    agent, method, error, body = await decide_with_llm(route_embedder, aredis, completion('{"agent": "commerce"}'))
    assert (agent, method, error) == ("commerce", "llm", None)
    system = body["messages"][0]["content"]  # type: ignore[index]
    assert "commerce: orders, shipping" in system and "account:" in system
    assert body["response_format"] == {"type": "json_object"}


async def test_llm_saying_none_fits_goes_to_general(route_embedder: RouteEmbedder, aredis: aioredis.Redis) -> None:
    agent, method, _, _ = await decide_with_llm(route_embedder, aredis, completion('{"agent": "none"}'))
    assert (agent, method) == ("general", "llm")


async def test_malformed_or_unknown_answers_fall_back_to_general(
    route_embedder: RouteEmbedder, aredis: aioredis.Redis
) -> None:
    for content, reason in [
        ("commerce, I think", "not a JSON object"),
        ('{"agent": "commerce"', "not a JSON object"),
        ('{"agent": "billing"}', "unknown agent"),
        ('{"choice": 3}', 'no string "agent"'),
    ]:
        agent, method, error, _ = await decide_with_llm(route_embedder, aredis, completion(content))
        assert (agent, method) == ("general", "fallback"), content
        assert error is not None and reason in error


async def test_a_timed_out_llm_falls_back_quickly(route_embedder: RouteEmbedder, aredis: aioredis.Redis) -> None:
    agent, method, error, _ = await decide_with_llm(
        route_embedder, aredis, httpx.ReadTimeout("slow model"), timeout_s=0.2
    )
    assert (agent, method) == ("general", "fallback") and error is not None


async def test_a_follow_up_stays_with_the_previous_agent(route_embedder: RouteEmbedder, aredis: aioredis.Redis) -> None:
    router = make_router(route_embedder, aredis, threshold=0.6, switch_confidence=0.8)
    follow_up = await router.decide("and when will it arrive?", AGENTS, previous="commerce", token="t")
    assert follow_up.decision.agents == ["commerce"]
    assert follow_up.decision.method in ("sticky", "examples") and not follow_up.llm_called
    vague = await router.decide("ok, what else?", AGENTS, previous="account", token="t")
    assert (vague.decision.agents, vague.decision.method) == (["account"], "sticky")
    # ...unless the message clearly belongs elsewhere.
    elsewhere = await router.decide("I forgot my password", AGENTS, previous="commerce", token="t")
    assert (elsewhere.decision.agents, elsewhere.decision.method) == (["account"], "examples")
    # A message that points back at the conversation stays, however sure the examples are.
    assert (await router.decide("I forgot my password for it", AGENTS, previous="commerce")).decision.agents == [
        "commerce"
    ]


async def test_follow_ups_stay_with_the_default_agents_too(
    route_embedder: RouteEmbedder, aredis: aioredis.Redis
) -> None:
    # The shipped examples send "when will my purchase arrive?" to the knowledge agent (delivery
    # times are policy); in a thread about an order, the follow-up must stay with commerce.
    router = make_router(route_embedder, aredis)
    agents = default_manifests()
    alone = await router.decide("when will my purchase arrive?", agents)
    assert alone.decision.agents == ["knowledge"]
    follow_up = await router.decide("and when will it arrive?", agents, previous="commerce")
    assert (follow_up.decision.agents, follow_up.decision.method) == (["commerce"], "sticky")
    switch = await router.decide("what payment methods do you accept?", agents, previous="commerce")
    assert (switch.decision.agents, switch.decision.method) == (["knowledge"], "examples")


async def test_several_requests_for_different_agents_fan_out(
    route_embedder: RouteEmbedder, aredis: aioredis.Redis
) -> None:
    router = make_router(route_embedder, aredis, threshold=0.6)
    plan = await router.decide("cancel order 1234 and change my email address", AGENTS, token="t")
    assert plan.decision.agents == ["commerce", "account"] and plan.decision.method == "examples"
    assert plan.parts == {"commerce": "cancel order 1234", "account": "change my email address"}
    # Two requests for the same agent stay one dispatch with the whole message.
    single = await router.decide("cancel order 1234 and track my package", AGENTS, token="t")
    assert single.decision.agents == ["commerce"]
    assert single.parts == {"commerce": "cancel order 1234 and track my package"}
