"""Wire contracts shared by every service and the SDK (pydantic models)."""

from meshline.contracts.agent import (
    AgentEvent,
    AgentResult,
    AgentTask,
    Citation,
    ToolBinding,
    ToolCallRecord,
    Usage,
)
from meshline.contracts.chat import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    DeltaEvent,
    DoneEvent,
    ErrorEvent,
    ResetEvent,
    RouteDecision,
    RouteEvent,
    StreamEvent,
    ThreadView,
    ToolEvent,
)
from meshline.contracts.manifest import Manifest, ToolSpec
from meshline.contracts.memory import MemoryHit, MemorySearch, MemoryWrite
from meshline.contracts.problem import ProblemDetails

__all__ = [
    "AgentEvent",
    "AgentResult",
    "AgentTask",
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "Citation",
    "DeltaEvent",
    "DoneEvent",
    "ResetEvent",
    "ErrorEvent",
    "Manifest",
    "MemoryHit",
    "MemorySearch",
    "MemoryWrite",
    "ProblemDetails",
    "RouteDecision",
    "RouteEvent",
    "StreamEvent",
    "ThreadView",
    "ToolBinding",
    "ToolCallRecord",
    "ToolEvent",
    "ToolSpec",
    "Usage",
]
