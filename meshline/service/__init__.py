"""The service kit: what every Meshline FastAPI process is built from."""

from meshline.service.app import create_service_app
from meshline.service.auth import Identity, ServiceTokenIssuer, ServiceTokenVerifier, require_identity
from meshline.service.context import RequestContext, current_context
from meshline.service.settings import MeshSettings, ServiceSettings

__all__ = [
    "Identity",
    "MeshSettings",
    "RequestContext",
    "ServiceSettings",
    "ServiceTokenIssuer",
    "ServiceTokenVerifier",
    "create_service_app",
    "current_context",
    "require_identity",
]
