"""The Meshline Python SDK: ``Client`` and ``AsyncClient``, their typed errors and models.

>>> import meshline
>>> with meshline.Client() as client:          # finds the mesh started by ``meshline up``
...     for event in client.stream("Hello"):
...         ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshline.exports import lazy_exports

if TYPE_CHECKING:
    from meshline.contracts import (
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
    from meshline.sdk.discovery import (
        HOME_DIR,
        ClientSettings,
        MeshFile,
        MeshTarget,
        discover,
        find_mesh_file,
        read_mesh_file,
    )
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
    "ClientSettings",
    "DeltaEvent",
    "DoneEvent",
    "ErrorEvent",
    "HOME_DIR",
    "InvalidRequestError",
    "MeshFile",
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
    "find_mesh_file",
    "read_mesh_file",
]
__getattr__ = lazy_exports(
    __name__,
    {
        "APIConnectionError": "meshline.sdk.errors",
        "AgentInfo": "meshline.sdk.models",
        "ApiKey": "meshline.sdk.models",
        "ApiKeyInfo": "meshline.sdk.models",
        "AsyncClient": "meshline.sdk.async_client",
        "AuthenticationError": "meshline.sdk.errors",
        "ChatResponse": "meshline.contracts",
        "Client": "meshline.sdk.client",
        "ClientSettings": "meshline.sdk.discovery",
        "DeltaEvent": "meshline.contracts",
        "DoneEvent": "meshline.contracts",
        "ErrorEvent": "meshline.contracts",
        "HOME_DIR": "meshline.sdk.discovery",
        "InvalidRequestError": "meshline.sdk.errors",
        "MeshFile": "meshline.sdk.discovery",
        "MeshTarget": "meshline.sdk.discovery",
        "MeshlineAPIError": "meshline.sdk.errors",
        "NotFoundError": "meshline.sdk.errors",
        "RateLimitError": "meshline.sdk.errors",
        "Readiness": "meshline.sdk.models",
        "ResetEvent": "meshline.contracts",
        "RouteEvent": "meshline.contracts",
        "ServiceInfo": "meshline.sdk.models",
        "ServiceInstance": "meshline.sdk.models",
        "ServiceUnavailableError": "meshline.sdk.errors",
        "StreamEvent": "meshline.contracts",
        "ThreadView": "meshline.contracts",
        "ToolEvent": "meshline.contracts",
        "discover": "meshline.sdk.discovery",
        "find_mesh_file": "meshline.sdk.discovery",
        "read_mesh_file": "meshline.sdk.discovery",
    },
)
