"""Readiness of the LLM layer: the stable version of the ``default`` alias answers."""

from __future__ import annotations

import asyncio

from meshline.agents.llm.config import DEFAULT_ALIAS
from meshline.agents.llm.gateway import ModelGateway
from meshline.agents.llm.versions import DeploymentSpec
from meshline.errors import ServiceUnavailable
from meshline.resilience import ServiceClient


async def _probe(
    client: ServiceClient, gateway: ModelGateway, deployment: DeploymentSpec, key: str | None, timeout_s: float
) -> bool:
    if not deployment.api_base:
        return True  # a hosted provider (OpenAI, Anthropic...): nothing of ours to probe
    if gateway.slots.in_use(deployment.api_base):
        # Busy with our own calls: a one-at-a-time server (llama-cpp-python's) would answer the probe
        # only after them. Those calls' own timeouts and cooldowns judge a server that hangs.
        return True
    try:
        response = await client.request(
            "GET", f"{deployment.api_base.rstrip('/')}/models", token=key, timeout_s=timeout_s
        )
    except Exception:  # an unreachable deployment is a probe answer
        return False
    return response.is_success


async def probe_default_alias(client: ServiceClient, gateway: ModelGateway, timeout_s: float) -> None:
    """Pass when a deployment of the ``default`` alias's stable version answers ``GET {api_base}/models``
    within ``timeout_s``."""
    state = gateway.registry.alias(DEFAULT_ALIAS)
    stable = state.versions[state.stable]
    deployments = stable.deployments
    keys = [gateway.keys.resolve(DEFAULT_ALIAS, stable, i) for i in range(len(deployments))]
    results = await asyncio.gather(
        *(_probe(client, gateway, d, k, timeout_s) for d, k in zip(deployments, keys, strict=True))
    )
    if not any(results):
        bases = ", ".join(d.api_base or d.model for d in deployments)
        raise ServiceUnavailable(f"no deployment of the {DEFAULT_ALIAS!r} alias answers ({bases})")
