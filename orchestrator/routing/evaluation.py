"""Scoring the router on labelled messages: shared by ``meshline routes eval|fit`` and bench/routing.py.

Input is a CSV with ``utterance`` and ``intent`` columns and a labels JSON mapping each intent to
the agent that should answer it (``{"intents": {intent: agent}}``, or a flat ``{intent: agent}``).
Output is plain data (dicts of numbers), so the CLI can print it and the bench can save it.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from meshline.errors import Unprocessable
from meshline.json_types import JsonObject


class LabelError(Unprocessable, ValueError):
    """The CSV or the labels file cannot be used (missing columns, unlabelled intents...)."""


@dataclass(frozen=True)
class LabelledMessage:
    text: str
    intent: str
    agent: str


@dataclass(frozen=True)
class Outcome:
    """One routed message: what it should have been, what the router said, and at what cost."""

    expected: str
    agents: tuple[str, ...]  # several when the router fanned the message out
    llm_called: bool
    confidence: float  # the examples stage's vote share for its winner
    latency_ms: float

    @property
    def decided(self) -> str:
        """The decision as one label; a fan-out of one message is its own (wrong) label ``a+b``."""
        return "+".join(self.agents)


def load_labels(path: Path) -> dict[str, str]:
    """intent -> agent from a labels JSON (``{"intents": {...}}`` or a flat mapping)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise LabelError(f"cannot read labels {path}: {exc}") from exc
    intents = raw.get("intents", raw) if isinstance(raw, dict) else None
    if not isinstance(intents, dict) or not all(isinstance(v, str) for v in intents.values()):
        raise LabelError(f"labels {path} must map intent -> agent (optionally under 'intents')")
    return {str(k): v for k, v in intents.items()}


def load_labelled(csv_path: Path, labels: dict[str, str]) -> list[LabelledMessage]:
    """The CSV's rows with their expected agent; an intent without a label is an error."""
    try:
        with csv_path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not {"utterance", "intent"} <= set(reader.fieldnames or []):
                raise LabelError(f"{csv_path} needs the columns 'utterance' and 'intent'")
            rows = [(r["utterance"].strip(), r["intent"].strip()) for r in reader]
    except OSError as exc:
        raise LabelError(f"cannot read {csv_path}: {exc}") from exc
    unknown = sorted({intent for _, intent in rows} - set(labels))
    if unknown:
        raise LabelError(f"intents without an agent in the labels: {', '.join(unknown)}")
    return [LabelledMessage(text, intent, labels[intent]) for text, intent in rows if text]


def fit_selection(messages: Iterable[LabelledMessage], cap: int) -> dict[str, list[str]]:
    """Examples per agent for ``routes fit``: deduplicated, at most ``cap`` per agent.

    Intents take turns, so a capped agent still gets examples of every intent it answers rather
    than the first ``cap`` rows of the file.
    """
    by_agent: dict[str, dict[str, list[str]]] = {}
    seen: set[str] = set()
    for message in messages:
        key = " ".join(message.text.lower().split())
        if key and key not in seen:
            seen.add(key)
            by_agent.setdefault(message.agent, {}).setdefault(message.intent, []).append(message.text)
    selection: dict[str, list[str]] = {}
    for agent, intents in sorted(by_agent.items()):
        queues = [list(texts) for _, texts in sorted(intents.items())]
        chosen: list[str] = []
        while len(chosen) < cap and any(queues):
            for queue in queues:
                if queue and len(chosen) < cap:
                    chosen.append(queue.pop(0))
        selection[agent] = chosen
    return selection


def percentile(values: Sequence[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3) if values else 0.0


def score(outcomes: Sequence[Outcome], threshold: float | None = None) -> JsonObject:
    """Accuracy, per-agent precision/recall, confusion matrix, LLM share, latency percentiles.

    With ``threshold``, also the share whose example confidence is below it (what production
    sends to the LLM) and the accuracy on the rest.
    """
    total = len(outcomes)
    correct = sum(o.decided == o.expected for o in outcomes)
    confusion: dict[str, Counter[str]] = {}
    for o in outcomes:
        confusion.setdefault(o.expected, Counter())[o.decided] += 1
    labels = sorted({o.expected for o in outcomes} | {o.decided for o in outcomes})
    per_agent: dict[str, dict[str, float | int]] = {}
    for agent in labels:
        true_pos = sum(o.expected == agent and o.decided == agent for o in outcomes)
        predicted = sum(o.decided == agent for o in outcomes)
        actual = sum(o.expected == agent for o in outcomes)
        per_agent[agent] = {
            "precision": round(true_pos / predicted, 4) if predicted else 0.0,
            "recall": round(true_pos / actual, 4) if actual else 0.0,
            "support": actual,
        }
    llm_calls = sum(o.llm_called for o in outcomes)
    latencies = [o.latency_ms for o in outcomes]
    report: JsonObject = {
        "messages": total,
        "accuracy": round(correct / total, 4) if total else 0.0,
        "llm_fallback_rate": round(llm_calls / total, 4) if total else 0.0,
        "decided_without_llm": round(1 - llm_calls / total, 4) if total else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "per_agent": per_agent,
        "confusion": {e: dict(sorted(c.items())) for e, c in sorted(confusion.items())},
    }
    if threshold is not None:
        above = [o for o in outcomes if o.confidence >= threshold]
        report["threshold"] = threshold
        report["below_threshold_share"] = round(1 - len(above) / total, 4) if total else 0.0
        report["accuracy_above_threshold"] = (
            round(sum(o.decided == o.expected for o in above) / len(above), 4) if above else 0.0
        )
    return report


def confusion_by_intent(messages: Sequence[LabelledMessage], outcomes: Sequence[Outcome]) -> dict[str, Counter[str]]:
    """intent -> decided agents, for seeing which kinds of request are misrouted."""
    table: dict[str, Counter[str]] = {}
    for message, outcome in zip(messages, outcomes, strict=True):
        table.setdefault(message.intent, Counter())[outcome.decided] += 1
    return table
