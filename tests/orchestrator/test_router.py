"""The semantic router on real embeddings (bundled MiniLM) and real Redis: clear, ambiguous, pinned."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from meshline.contracts.manifest import Manifest
from meshline.errors import NotFound, ServiceUnavailable
from meshline.orchestrator.routing import RouteEmbedder, split_intents
from tests.orchestrator.routing_fixtures import AGENTS, make_router


async def test_clear_messages_route_by_examples_without_an_llm(
    route_embedder: RouteEmbedder, aredis: aioredis.Redis
) -> None:
    router = make_router(route_embedder, aredis, threshold=0.6)
    for message, agent in [
        ("where is my order 1042?", "commerce"),
        ("I have forgotten my password", "account"),
        ("hello there!", "general"),
    ]:
        plan = await router.decide(message, AGENTS, token="t")
        assert plan.decision.agents == [agent], message
        assert plan.decision.method == "examples" and plan.decision.confidence >= 0.6
        assert not plan.llm_called and plan.latency_ms > 0


async def test_below_the_threshold_without_llm_falls_back_to_general(
    route_embedder: RouteEmbedder, aredis: aioredis.Redis
) -> None:
    router = make_router(route_embedder, aredis, threshold=1.01)  # no vote reaches it
    plan = await router.decide("where is my order 1042?", AGENTS, token="t")
    assert (plan.decision.agents, plan.decision.method) == (["general"], "fallback")
    assert plan.examples_agent == "commerce"  # the examples' guess is still reported
    # The examples stage alone (what `routes eval --no-llm` scores) keeps the guess.
    alone = await router.decide("where is my order 1042?", AGENTS, use_llm=False)
    assert (alone.decision.agents, alone.decision.method) == (["commerce"], "examples")
    assert alone.decision.confidence <= 1.0


async def test_nothing_close_goes_to_the_default_agent(route_embedder: RouteEmbedder, aredis: aioredis.Redis) -> None:
    router = make_router(route_embedder, aredis, min_similarity=0.95)
    plan = await router.decide("qwerty zxcv", AGENTS, token="t")
    assert (plan.decision.agents, plan.decision.method) == (["general"], "fallback")


async def test_pinning_wins_and_unknown_pins_are_rejected(
    route_embedder: RouteEmbedder, aredis: aioredis.Redis
) -> None:
    router = make_router(route_embedder, aredis)
    decision = await router.route("where is my order", AGENTS, pinned="general")
    assert (decision.agents, decision.method, decision.confidence) == (["general"], "pinned", 1.0)
    with pytest.raises(NotFound):
        await router.route("hi", AGENTS, pinned="nobody")
    with pytest.raises(ServiceUnavailable):
        await router.route("hi", [])


async def test_a_new_agent_is_routable_at_once_and_gone_when_removed(
    route_embedder: RouteEmbedder, aredis: aioredis.Redis
) -> None:
    router = make_router(route_embedder, aredis)
    weather = Manifest(
        name="weather",
        kind="agent",
        description="weather forecasts",
        examples=["will it rain tomorrow", "what's the weather like in Paris", "is it going to be sunny"],
    )
    message = "is it going to rain this weekend?"
    assert (await router.route(message, AGENTS)).agents != ["weather"]
    await router.index.add(weather)
    assert router.index.size("weather") == 4
    assert (await router.route(message, [*AGENTS, weather])).agents == ["weather"]
    await router.index.remove("weather")
    assert "weather" not in router.index.agents()


async def test_fit_adds_deduplicated_capped_examples_and_reset_forgets_them(
    route_embedder: RouteEmbedder, aredis: aioredis.Redis
) -> None:
    router = make_router(route_embedder, aredis)
    await router.index.sync(AGENTS)
    before = router.index.size("general")
    added = await router.index.fit({"general": ["what's your opening time", "What's your  opening time", "hours?"]})
    assert added == {"general": 2} and router.index.size("general") == before + 2
    assert (await router.index.fit({"general": ["hours?"]})) == {"general": 0}
    # Another replica (a fresh index on the same Redis) sees the fitted examples.
    other = make_router(route_embedder, aredis)
    await other.index.sync(AGENTS)
    assert other.index.size("general") == before + 2
    await router.index.reset()
    assert router.index.size("general") == before
    await other.index.sync(AGENTS)
    assert other.index.size("general") == before


def test_the_splitter_finds_separate_requests_only() -> None:
    assert split_intents("cancel order 1234 and change my email") == ["cancel order 1234", "change my email"]
    assert split_intents("Where is my order? Also I forgot my password.") == [
        "Where is my order?",
        "Also I forgot my password",
    ]
    assert split_intents("salt and pepper") == ["salt and pepper"]
    assert split_intents("I want to buy shoes and socks") == ["I want to buy shoes and socks"]
