"""Shared by the routing tests: one loaded MiniLM per test session, and small agent manifests."""

from __future__ import annotations

from meshline.agents.assistant.profile import load_profile
from meshline.agents.retrieval.manifest import manifest as knowledge_manifest
from meshline.contracts.manifest import Manifest
from meshline.orchestrator.routing import LlmChooser, RouteEmbedder, RouteIndex, Router, RouterConfig

COMMERCE = Manifest(
    name="commerce",
    kind="agent",
    description="orders, shipping, invoices, payments and refunds",
    examples=[
        "where is my order",
        "cancel my order 1234",
        "I want to return an item and get my money back",
        "track my package",
        "change the delivery address of my order",
        "I need the invoice for my purchase",
    ],
)
ACCOUNT = Manifest(
    name="account",
    kind="agent",
    description="the customer's account, profile, password and newsletter",
    examples=[
        "I forgot my password",
        "change my email address",
        "delete my account",
        "update my profile details",
        "unsubscribe me from the newsletter",
        "I can't log in to my account",
    ],
)
GENERAL = Manifest(
    name="general",
    kind="agent",
    description="small talk, greetings and requests for a human",
    examples=["hello", "thanks, bye", "I want to talk to a human", "how are you today?", "tell me a joke"],
)
AGENTS = [COMMERCE, ACCOUNT, GENERAL]


def make_router(embedder: RouteEmbedder, redis: object, llm: LlmChooser | None = None, **config: float) -> Router:
    index = RouteIndex(redis, embedder.embed, "local", 50)  # type: ignore[arg-type]
    return Router(index, embedder, RouterConfig(**config), llm)  # type: ignore[arg-type]


def default_manifests() -> list[Manifest]:
    """The agents `meshline up` routes among, with the examples they ship."""
    profiles = [load_profile(name).manifest("test") for name in ("general", "commerce", "account")]
    return [*profiles, knowledge_manifest("test", "knowledge")]
