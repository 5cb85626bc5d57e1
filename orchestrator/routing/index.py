"""The routing index: every registered agent's routing examples as unit vectors, in memory.

Examples come from each agent's manifest (description and ``examples``) plus the labelled
examples a team added with ``meshline routes fit`` (kept in Redis so every orchestrator replica
sees them). Vectors are cached in Redis by text hash and model, so a restart or a second replica
embeds nothing it has seen before. Lookups are one matrix product over a few hundred rows.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from redis.asyncio import Redis

from meshline.contracts import Manifest

FITTED = "meshline:routes:fitted"  # hash: agent -> JSON list of added examples
VERSION = "meshline:routes:version"  # bumped by every fit/reset, so replicas reload
# hash: sha1(text) -> float32 bytes; "v2": the router embeds on its own traced bf16 path (embedder.py)
VECTORS = "meshline:routes:vectors:v2:{model}"

EmbedFn = Callable[[Sequence[str]], Awaitable[list[list[float]]]]
Matrix = NDArray[np.float32]


@dataclass(frozen=True)
class Neighbour:
    agent: str
    text: str
    similarity: float


@dataclass
class _AgentRows:
    manifest: Manifest
    fingerprint: str
    texts: list[str]
    vectors: Matrix


@dataclass
class RouteIndex:
    """Agent -> example vectors, kept in step with the registry and the fitted examples."""

    redis: Redis
    embed: EmbedFn
    model: str
    max_fitted_per_agent: int = 200
    _agents: dict[str, _AgentRows] = field(default_factory=dict)
    _fitted: dict[str, list[str]] = field(default_factory=dict)
    _version: bytes | str | None = None
    _matrix: Matrix = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    _labels: list[str] = field(default_factory=list)
    _texts: list[str] = field(default_factory=list)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def agents(self) -> list[str]:
        return sorted(self._agents)

    def size(self, agent: str | None = None) -> int:
        return sum(len(r.texts) for n, r in self._agents.items() if agent is None or n == agent)

    async def sync(self, manifests: Sequence[Manifest]) -> None:
        """Index exactly these agents (embedding only what changed) with the current fitted examples."""
        version = await self.redis.get(VERSION)
        wanted = {m.name: m for m in manifests}
        if (
            version == self._version
            and all(
                n in self._agents and self._agents[n].fingerprint == self._fingerprint(m) for n, m in wanted.items()
            )
            and set(self._agents) == set(wanted)
        ):
            return
        async with self._lock:
            if version != self._version:
                raw = await self.redis.hgetall(FITTED)
                self._fitted = {_s(k): json.loads(v) for k, v in raw.items()}
                self._version = version
            for name in [n for n in self._agents if n not in wanted]:
                del self._agents[name]
            for name, manifest in wanted.items():
                fingerprint = self._fingerprint(manifest)
                if name not in self._agents or self._agents[name].fingerprint != fingerprint:
                    texts = _dedupe([manifest.description, *manifest.examples, *self._fitted.get(name, [])])
                    self._agents[name] = _AgentRows(manifest, fingerprint, texts, await self._vectors(texts))
            self._rebuild()

    async def add(self, manifest: Manifest) -> None:
        """Index one (newly registered) agent now, so its first message needs no embedding work."""
        others = [m for m in self._manifests() if m.name != manifest.name]
        await self.sync([*others, manifest])

    async def remove(self, name: str) -> None:
        async with self._lock:
            if self._agents.pop(name, None) is not None:
                self._rebuild()

    async def fit(self, examples: dict[str, list[str]]) -> dict[str, int]:
        """Add labelled examples (deduplicated, capped per agent); returns how many each agent gained."""
        added: dict[str, int] = {}
        raw = await self.redis.hgetall(FITTED)
        current = {_s(k): list(json.loads(v)) for k, v in raw.items()}
        for agent, texts in examples.items():
            known = set(current.get(agent, []))
            fresh = [t for t in _dedupe(texts) if t not in known]
            room = max(0, self.max_fitted_per_agent - len(known))
            current[agent] = [*current.get(agent, []), *fresh[:room]]
            added[agent] = len(fresh[:room])
            # Embed (and cache) now: the next routed message must not pay for it.
            await self._vectors(fresh[:room])
        async with self.redis.pipeline(transaction=True) as pipe:
            for agent, texts in current.items():
                pipe.hset(FITTED, agent, json.dumps(texts))
            pipe.incr(VERSION)
            await pipe.execute()
        await self.sync(self._manifests())
        return added

    async def reset(self) -> None:
        """Forget every fitted example: back to the manifests' own examples."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(FITTED)
            pipe.incr(VERSION)
            await pipe.execute()
        await self.sync(self._manifests())

    def nearest(self, vectors: Matrix, k: int) -> list[list[Neighbour]]:
        """The ``k`` most similar examples for each query row (vectors are unit length)."""
        if not self._labels:
            return [[] for _ in range(len(vectors))]
        sims = vectors @ self._matrix.T
        k = min(k, sims.shape[1])
        out: list[list[Neighbour]] = []
        for row in sims:
            top = np.argpartition(-row, k - 1)[:k]
            top = top[np.argsort(-row[top])]
            out.append([Neighbour(self._labels[i], self._texts[i], float(row[i])) for i in top])
        return out

    # --- internals -----------------------------------------------------------------------------
    def _fingerprint(self, manifest: Manifest) -> str:
        payload = [manifest.description, *manifest.examples, *self._fitted.get(manifest.name, [])]
        return hashlib.sha1(json.dumps(payload).encode()).hexdigest()

    def _manifests(self) -> list[Manifest]:
        return [r.manifest for r in self._agents.values()]

    def _rebuild(self) -> None:
        rows = [(n, t, v) for n, r in sorted(self._agents.items()) for t, v in zip(r.texts, r.vectors, strict=True)]
        self._labels = [n for n, _, _ in rows]
        self._texts = [t for _, t, _ in rows]
        self._matrix = np.stack([v for _, _, v in rows]).astype(np.float32) if rows else np.zeros((0, 0), np.float32)

    async def _vectors(self, texts: list[str]) -> Matrix:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        key = VECTORS.format(model=self.model)
        hashes = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        cached = await self.redis.hmget(key, hashes)
        missing = [i for i, c in enumerate(cached) if c is None]
        fresh = await self.embed([texts[i] for i in missing]) if missing else []
        if fresh:
            await self.redis.hset(
                key,
                mapping={hashes[i]: np.asarray(v, np.float32).tobytes() for i, v in zip(missing, fresh, strict=True)},
            )
        by_index = dict(zip(missing, fresh, strict=True))
        return np.stack(
            [
                np.asarray(by_index[i], np.float32)
                if c is None
                else np.frombuffer(c.encode() if isinstance(c, str) else c, np.float32)
                for i, c in enumerate(cached)
            ]
        )


def _dedupe(texts: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for text in texts:
        clean = " ".join(text.split())
        if clean and clean.lower() not in seen:
            seen.add(clean.lower())
            out.append(clean)
    return out


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
