"""The Meshline Python SDK: ``Client`` and ``AsyncClient``, their typed errors and models.

>>> import meshline
>>> with meshline.Client() as client:          # finds the mesh started by ``meshline up``
...     for event in client.stream("Hello"):
...         ...
"""

from meshline.contracts.chat import (
    ChatResponse,
    DeltaEvent,
    DoneEvent,
    ErrorEvent,
    ResetEvent,
    RouteEvent,
    StreamEvent,
    ThreadView,
    ToolEvent,
)
from meshline.sdk.async_client import AsyncClient
from meshline.sdk.client import Client
from meshline.sdk.discovery import MeshTarget, discover
from meshline.sdk.errors import (
    APIConnectionError,
    AuthenticationError,
    InvalidRequestError,
    MeshlineAPIError,
    NotFoundError,
    RateLimitError,
    ServiceUnavailableError,
)
from meshline.sdk.models import AgentInfo, ApiKey, ApiKeyInfo, Readiness, ServiceInfo, ServiceInstance

__all__ = [
    "APIConnectionError",
    "AgentInfo",
    "ApiKey",
    "ApiKeyInfo",
    "AsyncClient",
    "AuthenticationError",
    "ChatResponse",
    "Client",
    "DeltaEvent",
    "DoneEvent",
    "ErrorEvent",
    "InvalidRequestError",
    "MeshTarget",
    "MeshlineAPIError",
    "NotFoundError",
    "RateLimitError",
    "Readiness",
    "ResetEvent",
    "RouteEvent",
    "ServiceInfo",
    "ServiceInstance",
    "ServiceUnavailableError",
    "StreamEvent",
    "ThreadView",
    "ToolEvent",
    "discover",
]
