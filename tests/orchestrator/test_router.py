from __future__ import annotations

import pytest

from meshline.contracts.manifest import Manifest
from meshline.errors import NotFound, ServiceUnavailable
from meshline.orchestrator.router import Router

AGENTS = [
    Manifest(
        name="general", kind="agent", description="small talk and anything else", examples=["hello", "talk to a human"]
    ),
    Manifest(name="commerce", kind="agent", description="orders", examples=["where is my order", "cancel my order"]),
]


def test_clear_message_routes_by_examples() -> None:
    decision = Router("general", 0.2).route("where is my order 1042?", AGENTS)
    assert decision.agents == ["commerce"]
    assert decision.method == "examples"
    assert 0.2 <= decision.confidence <= 1.0


def test_nothing_fits_goes_to_the_default_agent() -> None:
    decision = Router("general", 0.2).route("qwerty zxcv", AGENTS)
    assert (decision.agents, decision.method) == (["general"], "fallback")


def test_pinning_wins_and_unknown_pins_are_rejected() -> None:
    router = Router("general", 0.2)
    assert router.route("where is my order", AGENTS, pinned="general").method == "pinned"
    with pytest.raises(NotFound):
        router.route("hi", AGENTS, pinned="nobody")


def test_no_agents_is_unavailable() -> None:
    with pytest.raises(ServiceUnavailable):
        Router("general", 0.2).route("hi", [])
