"""The litellm ``Router`` over the configured deployments, and the readiness probe of the default alias."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from litellm.router import Router

from meshline.agents.llm.config import DEFAULT_ALIAS, Deployment, LlmConfig
from meshline.errors import NotFound, ServiceUnavailable
from meshline.resilience.client import ServiceClient

PROBE_TIMEOUT_S = 2.0


def build_router(config: LlmConfig, *, timeout_s: float, num_retries: int) -> Router:
    """One router model group per alias (``model_name`` = alias), one deployment per config entry."""
    model_list = [{"model_name": d.alias, "litellm_params": d.litellm_params(timeout_s)} for d in config.models]
    router: Router = Router(model_list=model_list, num_retries=num_retries, timeout=timeout_s)
    return router


@dataclass(frozen=True)
class ModelCatalog:
    """The aliases callers may name, and the router that serves them."""

    router: Router
    groups: dict[str, list[Deployment]]

    @classmethod
    def from_config(cls, config: LlmConfig, *, timeout_s: float, num_retries: int) -> ModelCatalog:
        router = build_router(config, timeout_s=timeout_s, num_retries=num_retries)
        return cls(router=router, groups=config.aliases())

    def require(self, alias: str) -> None:
        """Raise a 404 ``unknown_model`` problem unless ``alias`` is configured."""
        if alias not in self.groups:
            known = ", ".join(sorted(self.groups))
            raise NotFound(f"no model alias {alias!r}; configured aliases: {known}", code="unknown_model")

    def model_list(self) -> dict[str, Any]:
        """``GET /v1/models`` in OpenAI's list format."""
        data = [
            {"id": alias, "object": "model", "owned_by": "meshline", "deployments": len(deployments)}
            for alias, deployments in self.groups.items()
        ]
        return {"object": "list", "data": data}

    def close(self) -> None:
        # Drops the router's process-wide registrations (callbacks, registries).
        retire = getattr(self.router, "retire", None)
        if callable(retire):
            retire()


async def _probe(client: ServiceClient, deployment: Deployment) -> bool:
    if not deployment.api_base:
        return True  # a hosted provider (OpenAI, Anthropic...): nothing of ours to probe
    token = deployment.api_key.get_secret_value() if deployment.api_key is not None else None
    try:
        response = await client.request(
            "GET", f"{deployment.api_base.rstrip('/')}/models", token=token, timeout_s=PROBE_TIMEOUT_S
        )
    except Exception:  # an unreachable deployment is a probe answer
        return False
    return response.is_success


async def probe_default_alias(client: ServiceClient, catalog: ModelCatalog) -> None:
    """Pass when at least one deployment of the ``default`` alias answers ``GET {api_base}/models``."""
    deployments = catalog.groups.get(DEFAULT_ALIAS, [])
    results = await asyncio.gather(*(_probe(client, d) for d in deployments))
    if not any(results):
        bases = ", ".join(d.api_base or d.model for d in deployments)
        raise ServiceUnavailable(f"no deployment of the {DEFAULT_ALIAS!r} alias answers ({bases})")
