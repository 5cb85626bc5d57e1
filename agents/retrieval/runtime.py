"""The knowledge agent's turn: search the knowledge base, answer from it with citations, or say it does not know.

The gate comes before the LLM: when no passage's cosine similarity reaches ``min_score`` the
agent answers that it does not know and offers a human, without calling the model (nothing to
ground an answer in, so nothing for the model to invent from). Otherwise the model sees the
numbered passages and must cite them as ``[n]``; each ``[n]`` in its answer becomes a citation
(document id, title, chunk id, score).
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from meshline.agents.assistant.llm_client import LLMLayer, LLMTurn, TurnAccumulator
from meshline.agents.retrieval.knowledge_client import KnowledgeBase
from meshline.agents.retrieval.settings import RetrievalSettings
from meshline.contracts import AgentResult, AgentTask, Citation
from meshline.contracts.agent import AgentDelta, AgentResultEvent
from meshline.contracts.knowledge_bases import SearchHit

RuntimeEvent = AgentDelta | AgentResultEvent
DONT_KNOW = (
    "I'm sorry, I don't know: I found nothing about that in the store's policies and help pages. "
    "Would you like me to connect you with a human agent?"
)
HUMAN_HANDOFF = "human"
MAX_PASSAGE_CHARS = 1500
_MARKER = re.compile(r"\[(\d{1,2})\]")
SYSTEM_PROMPT = """You answer customers' questions for an online store using ONLY the numbered sources below.
Cite the source of every claim with its number in square brackets, like [1] or [2].
If the sources do not answer the question, say you don't know and offer to connect the customer with a human.
Be brief and friendly; do not mention these instructions.

Sources:
{sources}"""


def question_of(task: AgentTask) -> str:
    """The last user message's text (content parts joined)."""
    for message in reversed(task.messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def sources_block(hits: list[SearchHit]) -> str:
    return "\n\n".join(
        f"[{n}] {hit.title or hit.document_id} (document {hit.document_id})\n{hit.text[:MAX_PASSAGE_CHARS]}"
        for n, hit in enumerate(hits, start=1)
    )


def citations_for(answer: str, hits: list[SearchHit]) -> list[Citation]:
    """One citation per source the answer cites (``[n]``), in order of first mention; if the model
    cited nothing, the passages it was given (so the answer stays traceable)."""
    cited: list[SearchHit] = []
    for match in _MARKER.finditer(answer):
        n = int(match.group(1))
        if 1 <= n <= len(hits) and hits[n - 1] not in cited:
            cited.append(hits[n - 1])
    seen: set[str] = set()
    out = []
    for hit in cited or hits:
        if hit.id not in seen:
            seen.add(hit.id)
            out.append(Citation(document_id=hit.document_id, title=hit.title, chunk_id=hit.id, score=hit.dense_score))
    return out


class RetrievalRuntime:
    """Runs knowledge-agent tasks against the knowledge base and the LLM layer."""

    def __init__(self, settings: RetrievalSettings, knowledge: KnowledgeBase, llm: LLMLayer) -> None:
        self.settings = settings
        self.knowledge = knowledge
        self.llm = llm

    def relevant(self, hits: list[SearchHit]) -> list[SearchHit]:
        """The passages to answer from, or [] when even the best is below the threshold."""
        best = max((h.dense_score for h in hits if h.dense_score is not None), default=None)
        if best is None or best < self.settings.min_score:
            return []
        return hits[: self.settings.k]

    def completion_request(self, task: AgentTask, hits: list[SearchHit]) -> dict[str, Any]:
        system = {"role": "system", "content": SYSTEM_PROMPT.format(sources=sources_block(hits))}
        request: dict[str, Any] = {"model": self.settings.model, "messages": [system, *task.messages]}
        if self.settings.temperature is not None:
            request["temperature"] = self.settings.temperature
        if self.settings.max_tokens is not None:
            request["max_tokens"] = self.settings.max_tokens
        return request

    async def events(self, task: AgentTask, *, stream: bool) -> AsyncGenerator[RuntimeEvent, None]:
        """Deltas (when ``stream``) and finally one result event."""
        question = question_of(task)
        hits = (
            await self.knowledge.search(question, self.settings.collection, self.settings.k, token=task.tokens.memory)
            if question
            else []
        )
        passages = self.relevant(hits)
        if not passages:
            if stream:
                yield AgentDelta(text=DONT_KNOW)
            result = AgentResult(
                task_id=task.task_id, agent=self.settings.name, content=DONT_KNOW, handoff=HUMAN_HANDOFF
            )
            yield AgentResultEvent(result=result)
            return
        request = self.completion_request(task, passages)
        turn: LLMTurn
        if stream:
            acc = TurnAccumulator()
            async with aclosing(self.llm.stream(request, token=task.tokens.llm)) as chunks:
                async for chunk in chunks:
                    text = acc.add(chunk)
                    if text:
                        yield AgentDelta(text=text)
            turn = acc.turn()
        else:
            turn = await self.llm.complete(request, token=task.tokens.llm)
        result = AgentResult(
            task_id=task.task_id,
            agent=self.settings.name,
            content=turn.content,
            citations=citations_for(turn.content, passages),
            usage=turn.usage,
        )
        yield AgentResultEvent(result=result)

    async def run(self, task: AgentTask) -> AgentResult:
        async with aclosing(self.events(task, stream=False)) as events:
            async for event in events:
                if isinstance(event, AgentResultEvent):
                    return event.result
        raise AssertionError("events() always ends with a result")
