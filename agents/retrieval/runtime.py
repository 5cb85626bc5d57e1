"""The knowledge agent's turn: search the knowledge base, answer from it with citations, or say it does not know.

The gate comes before the LLM: when no passage's cosine similarity reaches ``min_score`` the
agent answers that it does not know and offers a human, without calling the model (nothing to
ground an answer in, so nothing for the model to invent from). Otherwise the model sees the
numbered passages and must cite them as ``[n]``; each ``[n]`` in its answer becomes a citation
(document id, title, chunk id, score). The runtime is an agent-kit handler
(:meth:`RetrievalRuntime.events`); its search and its LLM call are the kit's clients.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from contextlib import aclosing

from meshline.agents.kit import AgentContext, AgentStreamEvent, CompletionRequest
from meshline.agents.retrieval.settings import RetrievalSettings
from meshline.contracts import AgentDelta, AgentResultEvent, AgentTask, Citation, SearchHit

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

    def __init__(self, settings: RetrievalSettings) -> None:
        self.settings = settings

    def relevant(self, hits: list[SearchHit]) -> list[SearchHit]:
        """The passages to answer from, or [] when even the best is below the threshold."""
        best = max((h.dense_score for h in hits if h.dense_score is not None), default=None)
        if best is None or best < self.settings.min_score:
            return []
        return hits[: self.settings.k]

    def completion_request(self, task: AgentTask, hits: list[SearchHit]) -> CompletionRequest:
        system = {"role": "system", "content": SYSTEM_PROMPT.format(sources=sources_block(hits))}
        return CompletionRequest(
            model=self.settings.model,
            messages=[system, *task.messages],
            temperature=self.settings.temperature,
            max_tokens=self.settings.max_tokens,
        )

    async def events(self, task: AgentTask, ctx: AgentContext) -> AsyncGenerator[AgentStreamEvent, None]:
        """Deltas (when ``ctx.stream``) and finally one result event."""
        question = question_of(task)
        hits = await ctx.search(question, self.settings.collection, self.settings.k) if question else []
        passages = self.relevant(hits)
        if not passages:
            if ctx.stream:
                yield AgentDelta(text=DONT_KNOW)
            yield ctx.result(DONT_KNOW, handoff=HUMAN_HANDOFF)
            return
        async with aclosing(ctx.answer(self.completion_request(task, passages))) as events:
            async for event in events:
                if isinstance(event, AgentResultEvent):  # cite what the answer used
                    cited = citations_for(event.result.content, passages)
                    event = AgentResultEvent(result=event.result.model_copy(update={"citations": cited}))
                yield event
