"""Scoring labelled routing decisions: the numbers `meshline routes eval` and bench/routing.py report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshline.orchestrator.routing import (
    LabelError,
    LabelledMessage,
    Outcome,
    fit_selection,
    load_labelled,
    load_labels,
    score,
)


def outcome(expected: str, *agents: str, llm: bool = False, confidence: float = 0.9, ms: float = 10.0) -> Outcome:
    return Outcome(expected, agents, llm, confidence, ms)


def test_score_counts_accuracy_precision_recall_and_confusion() -> None:
    outcomes = [
        outcome("commerce", "commerce", ms=10),
        outcome("commerce", "commerce", ms=20),
        outcome("commerce", "account", llm=True, confidence=0.4, ms=30),
        outcome("account", "account", ms=40),
    ]
    report = score(outcomes, threshold=0.6)
    assert report["accuracy"] == 0.75
    assert report["per_agent"]["commerce"] == {"precision": 1.0, "recall": pytest.approx(0.6667), "support": 3}
    assert report["per_agent"]["account"] == {"precision": 0.5, "recall": 1.0, "support": 1}
    assert report["confusion"] == {"account": {"account": 1}, "commerce": {"account": 1, "commerce": 2}}
    assert report["llm_fallback_rate"] == 0.25 and report["decided_without_llm"] == 0.75
    assert report["p50_ms"] == 25.0 and report["p99_ms"] == pytest.approx(39.7)
    assert report["below_threshold_share"] == 0.25 and report["accuracy_above_threshold"] == 1.0


def test_a_fan_out_of_a_single_intent_message_counts_as_wrong() -> None:
    report = score([outcome("commerce", "commerce", "general")])
    assert report["accuracy"] == 0.0
    assert report["confusion"] == {"commerce": {"commerce+general": 1}}


def test_labels_and_csv_load_with_flat_or_nested_labels(tmp_path: Path) -> None:
    nested, flat = tmp_path / "nested.json", tmp_path / "flat.json"
    nested.write_text(json.dumps({"about": "x", "intents": {"track_order": "commerce", "review": "account"}}))
    flat.write_text(json.dumps({"track_order": "commerce", "review": "account"}))
    assert load_labels(nested) == load_labels(flat) == {"track_order": "commerce", "review": "account"}
    data = tmp_path / "d.csv"
    data.write_text('utterance,intent,extra\n"where is it, please",track_order,1\nnice shop,review,2\n,review,3\n')
    assert load_labelled(data, load_labels(flat)) == [
        LabelledMessage("where is it, please", "track_order", "commerce"),
        LabelledMessage("nice shop", "review", "account"),
    ]


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("utterance,intent\nhello,greet\n")
    with pytest.raises(LabelError, match="without an agent in the labels: greet"):
        load_labelled(data, {"track_order": "commerce"})
    (tmp_path / "nocol.csv").write_text("text,label\nhello,greet\n")
    with pytest.raises(LabelError, match="columns"):
        load_labelled(tmp_path / "nocol.csv", {})
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(LabelError, match="intent -> agent"):
        load_labels(tmp_path / "bad.json")


def test_fit_selection_dedupes_caps_and_takes_turns_across_intents() -> None:
    messages = [LabelledMessage(f"cancel {i}", "cancel_order", "commerce") for i in range(5)]
    messages += [LabelledMessage("Cancel  0", "cancel_order", "commerce")]  # a duplicate up to case and spaces
    messages += [LabelledMessage(f"track {i}", "track_order", "commerce") for i in range(5)]
    messages += [LabelledMessage("forgot password", "recover_password", "account")]
    selection = fit_selection(messages, cap=4)
    assert selection == {
        "account": ["forgot password"],
        "commerce": ["cancel 0", "track 0", "cancel 1", "track 1"],
    }
