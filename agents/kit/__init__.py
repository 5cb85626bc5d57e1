"""The agent-service kit: a handler becomes a Meshline agent service.

An agent is ``async def handle(task: AgentTask, ctx: AgentContext)`` yielding ``delta`` and
``tool`` events and finally one result (``ctx.answer(request)`` does all three for a single
LLM call); :func:`create_agent_app` serves it with a manifest, service-token auth (scope
``agent:invoke``, audience = the agent's name), problem+json errors, and the same answer as
JSON or as an SSE stream. The kit's clients reach the LLM layer (:class:`LLMLayer`) and the
tenant's knowledge bases (:class:`KnowledgeClient`) with the task's own tokens, each through
the process's circuit breaker. The assistant runtime, the knowledge agent and
``examples/faq_agent`` are all built on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshline.exports import lazy_exports

if TYPE_CHECKING:
    from meshline.agents.kit.app import Setup, create_agent_app
    from meshline.agents.kit.context import AgentClients, AgentContext, AgentStreamEvent, Handler, run_to_result
    from meshline.agents.kit.knowledge import KnowledgeClient
    from meshline.agents.kit.llm import CompletionRequest, LLMLayer, LLMToolCall, LLMTurn, TurnAccumulator
    from meshline.agents.kit.settings import AgentSettings

__all__ = [
    "AgentClients",
    "AgentContext",
    "AgentSettings",
    "AgentStreamEvent",
    "CompletionRequest",
    "Handler",
    "KnowledgeClient",
    "LLMLayer",
    "LLMToolCall",
    "LLMTurn",
    "Setup",
    "TurnAccumulator",
    "create_agent_app",
    "run_to_result",
]
__getattr__ = lazy_exports(
    __name__,
    {
        "AgentClients": "meshline.agents.kit.context",
        "AgentContext": "meshline.agents.kit.context",
        "AgentSettings": "meshline.agents.kit.settings",
        "AgentStreamEvent": "meshline.agents.kit.context",
        "CompletionRequest": "meshline.agents.kit.llm",
        "Handler": "meshline.agents.kit.context",
        "KnowledgeClient": "meshline.agents.kit.knowledge",
        "LLMLayer": "meshline.agents.kit.llm",
        "LLMToolCall": "meshline.agents.kit.llm",
        "LLMTurn": "meshline.agents.kit.llm",
        "Setup": "meshline.agents.kit.app",
        "TurnAccumulator": "meshline.agents.kit.llm",
        "create_agent_app": "meshline.agents.kit.app",
        "run_to_result": "meshline.agents.kit.context",
    },
)
