"""The router's examples stage on a labelled set: default examples, then after ``routes fit``.

Runs in-process the code a chat turn runs (RouteIndex + Router with the router's own traced
MiniLM, a private Redis for the vector cache and fitted examples), with the four default agents'
manifests: general, commerce and account (profile YAMLs) and knowledge (the retrieval agent).
The message-vector cache is off, so every message pays for its embedding; the warm-up uses
train messages, never the measured ones.

Dev is split into two stratified halves (alternate rows of each intent): the default examples,
the vote settings and the threshold were tuned looking at the first half only ("tune"); the
second ("held_out") is reported beside it as the honest check.

    .venv/bin/python bench/routing.py [--dev CSV] [--train CSV] [--labels JSON] [--by-intent]
    .venv/bin/python bench/routing.py --tune   # grid over k/temperature/threshold on the tune half

Prints the figures and writes bench/results/routing.json.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import redis.asyncio as aioredis

from meshline.agents.assistant import load_profile
from meshline.agents.retrieval import manifest as knowledge_manifest
from meshline.cli import free_port, start_redis
from meshline.contracts import Manifest
from meshline.embeddings import EmbeddingSettings
from meshline.orchestrator import (
    LabelledMessage,
    OrchestratorSettings,
    Outcome,
    RouteEmbedder,
    RouteIndex,
    Router,
    RouterConfig,
    TracedMiniLM,
    confusion_by_intent,
    fit_selection,
    load_labelled,
    load_labels,
    score,
    vote,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).parent / "results" / "routing.json"
KEYS = ("accuracy", "below_threshold_share", "accuracy_above_threshold", "p50_ms", "p99_ms")
HALF_KEYS = ("messages", "accuracy", "below_threshold_share", "accuracy_above_threshold")


def say(*parts: object) -> None:
    """The bench's output (stdout)."""
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")


def default_manifests() -> list[Manifest]:
    """The agents `meshline up` routes among, with the examples they ship."""
    profiles = [load_profile(name).manifest("bench") for name in ("general", "commerce", "account")]
    return [*profiles, knowledge_manifest("bench", "knowledge")]


def halves(messages: Sequence[LabelledMessage]) -> tuple[list[int], list[int]]:
    """Indices of the two stratified halves of ``messages``: alternate rows of each intent."""
    seen: dict[str, int] = {}
    first: list[int] = []
    second: list[int] = []
    for i, message in enumerate(messages):
        (first if seen.get(message.intent, 0) % 2 == 0 else second).append(i)
        seen[message.intent] = seen.get(message.intent, 0) + 1
    return first, second


async def evaluate(
    router: Router,
    agents: Sequence[Manifest],
    messages: Sequence[LabelledMessage],
    warm_up: Sequence[LabelledMessage],
    by_intent: bool,
) -> dict[str, Any]:
    """Route every message as a turn would (examples stage only), then score, also per dev half."""
    for message in warm_up[:20]:  # first calls pay for lazy initialisation; not measured messages
        await router.decide(message.text, agents, use_llm=False)
    outcomes = []
    for message in messages:
        plan = await router.decide(message.text, agents, use_llm=False)
        outcomes.append(
            Outcome(message.agent, tuple(plan.decision.agents), False, plan.examples_confidence, plan.latency_ms)
        )
    report = score(outcomes, threshold=router.config.threshold)
    report["halves"] = {
        name: {k: v for k, v in score([outcomes[i] for i in part], router.config.threshold).items() if k in HALF_KEYS}
        for name, part in zip(("tune", "held_out"), halves(messages), strict=True)
    }
    if by_intent:
        for intent, decided in sorted(confusion_by_intent(messages, outcomes).items()):
            say(f"  {intent:<26} {dict(decided)}")
    return report


async def tune(router: Router, agents: Sequence[Manifest], messages: Sequence[LabelledMessage]) -> None:
    """Grid over k, temperature and threshold on dev's tune half (held-out half printed beside it)."""
    await router.index.sync(agents)
    vectors = np.asarray(await router.embedder.embed([m.text for m in messages]), dtype=np.float32)
    neighbours = router.index.nearest(vectors, 50)
    parts = halves(messages)
    say(f"{'k':>3} {'T':>6} {'thr':>5} | tune: {'acc':>6} {'below':>6} {'above':>6} | held out: same")
    for k, temperature in itertools.product((5, 10, 20), (0.02, 0.05, 0.1)):
        votes = [vote(n[:k], temperature) for n in neighbours]
        for threshold in (0.5, 0.6, 0.7, 0.8):
            row = f"{k:>3} {temperature:>6} {threshold:>5}"
            for part in parts:
                right = [votes[i][0] == messages[i].agent for i in part]
                above = [r for r, i in zip(right, part, strict=True) if votes[i][1] >= threshold]
                row += f" | {sum(right) / len(right):.4f} {1 - len(above) / len(right):.4f} "
                row += f"{sum(above) / max(1, len(above)):.4f}"
            say(row)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    labels = load_labels(args.labels)
    dev, train = load_labelled(args.dev, labels), load_labelled(args.train, labels)
    settings = OrchestratorSettings()
    config = RouterConfig.from_settings(settings)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = start_redis(port, log_file=Path(tmp) / "redis.log")
        redis = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0")
        try:
            embedder = RouteEmbedder(EmbeddingSettings(), TracedMiniLM(), cache_size=0)
            index = RouteIndex(redis, embedder.embed, "local", settings.route_max_fitted_per_agent)
            router = Router(index, embedder, config, llm=None)
            agents = default_manifests()
            if args.tune:
                await tune(router, agents, dev)
                return {}
            results = {"default_examples": await evaluate(router, agents, dev, train, args.by_intent)}
            if args.default_only:
                return results
            selection = fit_selection(train, settings.route_max_fitted_per_agent)
            await index.fit(selection)
            results["fitted"] = await evaluate(router, agents, dev, train[::-1], args.by_intent)
            results["fitted"]["fitted_examples"] = {a: len(t) for a, t in selection.items()}
        finally:
            await redis.aclose()
            proc.terminate()
            proc.wait(timeout=10)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev", type=Path, default=DATA / "bitext" / "dev.csv")
    parser.add_argument("--train", type=Path, default=DATA / "bitext" / "train.csv")
    parser.add_argument("--labels", type=Path, default=DATA / "routing-labels.json")
    parser.add_argument("--by-intent", action="store_true", help="Print which agents each intent went to.")
    parser.add_argument("--default-only", action="store_true", help="Skip the fitted setting (results not saved).")
    parser.add_argument("--tune", action="store_true", help="Grid over the vote settings on dev halves; no results.")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    if not results:
        return
    if args.default_only:
        say(json.dumps({k: results["default_examples"][k] for k in KEYS}))
        return
    for setting, report in results.items():
        say(setting + ": " + ", ".join(f"{k}={report[k]}" for k in KEYS))
        say("  dev halves:", json.dumps(report["halves"]))
        say("  confusion (expected -> decided):", json.dumps(report["confusion"]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    say(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
