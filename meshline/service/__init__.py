"""The service kit: what every Meshline FastAPI process is built from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshline.exports import lazy_exports

if TYPE_CHECKING:
    from meshline.service.app import add_readiness_check, create_service_app
    from meshline.service.auth import (
        Identity,
        ServiceTokenIssuer,
        ServiceTokenVerifier,
        generate_keypair,
        require_identity,
    )
    from meshline.service.background import BackgroundTasks
    from meshline.service.context import DEADLINE_HEADER, RequestContext, bind_context, current_context
    from meshline.service.problems import PROBLEM_JSON, problem_for, problem_response
    from meshline.service.runner import run_service
    from meshline.service.scopes import (
        ADMIN,
        AGENT_INVOKE,
        KNOWLEDGE_READ,
        KNOWLEDGE_WRITE,
        LLM_CALL,
        MEMORIES_READ,
        MEMORIES_WRITE,
        TOOLS_CALL,
        USAGE_READ,
    )
    from meshline.service.settings import MeshSettings, NetworkList, ServiceSettings
    from meshline.service.telemetry import LATENCY_BUCKETS

__all__ = [
    "ADMIN",
    "AGENT_INVOKE",
    "BackgroundTasks",
    "DEADLINE_HEADER",
    "Identity",
    "KNOWLEDGE_READ",
    "KNOWLEDGE_WRITE",
    "LATENCY_BUCKETS",
    "LLM_CALL",
    "MEMORIES_READ",
    "MEMORIES_WRITE",
    "MeshSettings",
    "NetworkList",
    "PROBLEM_JSON",
    "RequestContext",
    "ServiceSettings",
    "ServiceTokenIssuer",
    "ServiceTokenVerifier",
    "TOOLS_CALL",
    "USAGE_READ",
    "add_readiness_check",
    "bind_context",
    "create_service_app",
    "current_context",
    "generate_keypair",
    "problem_for",
    "problem_response",
    "require_identity",
    "run_service",
]
__getattr__ = lazy_exports(
    __name__,
    {
        "ADMIN": "meshline.service.scopes",
        "AGENT_INVOKE": "meshline.service.scopes",
        "BackgroundTasks": "meshline.service.background",
        "DEADLINE_HEADER": "meshline.service.context",
        "Identity": "meshline.service.auth",
        "KNOWLEDGE_READ": "meshline.service.scopes",
        "KNOWLEDGE_WRITE": "meshline.service.scopes",
        "LATENCY_BUCKETS": "meshline.service.telemetry",
        "LLM_CALL": "meshline.service.scopes",
        "MEMORIES_READ": "meshline.service.scopes",
        "MEMORIES_WRITE": "meshline.service.scopes",
        "MeshSettings": "meshline.service.settings",
        "NetworkList": "meshline.service.settings",
        "PROBLEM_JSON": "meshline.service.problems",
        "RequestContext": "meshline.service.context",
        "ServiceSettings": "meshline.service.settings",
        "ServiceTokenIssuer": "meshline.service.auth",
        "ServiceTokenVerifier": "meshline.service.auth",
        "TOOLS_CALL": "meshline.service.scopes",
        "USAGE_READ": "meshline.service.scopes",
        "add_readiness_check": "meshline.service.app",
        "bind_context": "meshline.service.context",
        "create_service_app": "meshline.service.app",
        "current_context": "meshline.service.context",
        "generate_keypair": "meshline.service.auth",
        "problem_for": "meshline.service.problems",
        "problem_response": "meshline.service.problems",
        "require_identity": "meshline.service.auth",
        "run_service": "meshline.service.runner",
    },
)
