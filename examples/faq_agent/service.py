"""A complete Meshline agent service in a few dozen lines: store FAQs, answered by the LLM layer.

Run:  python examples/faq_agent/service.py   (port 9400; MESHLINE_FAQ_PORT to change)
Then: meshline register http://127.0.0.1:9400
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from meshline import __version__
from meshline.agents.kit import AgentContext, AgentSettings, AgentStreamEvent, CompletionRequest, create_agent_app
from meshline.contracts import AgentTask, Manifest
from meshline.service import run_service

FAQ = """Opening hours: Monday to Saturday, 9:00 to 18:00.
Gift wrapping: free on every order; choose it at checkout.
Store pickup: ready two hours after you order; bring the order number."""
MODEL = "default"  # a model alias of the LLM layer


class FaqSettings(AgentSettings):
    model_config = SettingsConfigDict(env_prefix="MESHLINE_FAQ_", extra="ignore")
    name: str = "faq"
    port: int = 9400


def answer(task: AgentTask, ctx: AgentContext) -> AsyncGenerator[AgentStreamEvent, None]:
    """One LLM call through the kit's client (the task's own token, the process's breaker):
    its deltas when the caller streams, then the result."""
    system = {"role": "system", "content": f"Answer briefly from these FAQs only:\n{FAQ}"}
    return ctx.answer(CompletionRequest(model=MODEL, messages=[system, *task.messages], temperature=0))


def create_app(settings: FaqSettings | None = None) -> FastAPI:
    settings = settings or FaqSettings()
    manifest = Manifest(
        name=settings.name,
        kind="agent",
        version=__version__,
        description="Answers questions about the store's opening hours, gift wrapping and store pickup.",
        examples=["When are you open?", "Do you gift-wrap?", "Can I pick my order up in the store?"],
    )
    return create_agent_app(settings=settings, manifest=manifest, handler=answer)


if __name__ == "__main__":
    settings = FaqSettings()
    run_service(lambda _: create_app(settings), settings)
