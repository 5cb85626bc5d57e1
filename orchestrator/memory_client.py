"""The orchestrator's use of the memory service: recall before routing, remember after answering."""

from __future__ import annotations

import logging

from meshline.errors import MeshlineError
from meshline.resilience import ServiceClient, raise_for_problem

log = logging.getLogger(__name__)


class MemoryClient:
    """Memory is an aid, not a dependency of the turn: failures degrade to 'nothing recalled'.

    A recall that takes longer than ``recall_timeout_s`` (a remember, ``remember_timeout_s``) is given up."""

    def __init__(
        self, client: ServiceClient, base_url: str, *, recall_timeout_s: float, remember_timeout_s: float
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.recall_timeout_s = recall_timeout_s
        self.remember_timeout_s = remember_timeout_s

    async def recall(self, query: str, k: int, token: str) -> list[str]:
        if k <= 0:
            return []
        try:
            response = await self.client.request(
                "POST",
                f"{self.base_url}/v1/memories/search",
                json={"query": query[:8000], "k": k},
                token=token,
                timeout_s=self.recall_timeout_s,
                idempotent=True,
            )
            raise_for_problem(response)
            return [str(hit["text"]) for hit in response.json().get("hits", [])]
        except MeshlineError as exc:
            log.warning("recall failed, continuing without memories: %s", exc.detail)
            return []

    async def remember(self, text: str, metadata: dict[str, str], token: str, memory_id: str) -> bool:
        try:
            response = await self.client.request(
                "POST",
                f"{self.base_url}/v1/memories",
                json={"text": text[:8000], "metadata": metadata, "id": memory_id},
                token=token,
                timeout_s=self.remember_timeout_s,
                idempotent=True,  # upsert by id: a repeat is harmless
            )
            raise_for_problem(response)
            return True
        except MeshlineError as exc:
            log.warning("remember failed: %s", exc.detail)
            return False
