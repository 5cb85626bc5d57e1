"""The confirmation table: which replies to "Shall I go ahead?" run the call, cancel it, ask
again, or are a new request (the question staying open)."""

from __future__ import annotations

import pytest

from meshline.confirmation import Reply, classify

# The six ambiguous replies of issue 12: each of them used to confirm a pending refund.
AMBIGUOUS = [
    "sure, what's the policy?",
    "maybe",
    "yes but change the address",
    "ok?",
    "yeah, how long does the refund take?",
    "yes and also cancel my other order",
]
TABLE = [
    *[(text, Reply.YES) for text in (
        "yes", "Yes.", "YES!", "  y  ", "yep", "yeah", "sure", "ok", "Okay!", "confirm", "go ahead", "Do it.",
        "please do", "yes please", "Yes, please!", "ok, go ahead", "yes thanks", "proceed", "all right",
    )],
    *[(text, Reply.NO) for text in (
        "no", "No.", "nope", "nah", "cancel", "Cancel it!", "don't", "Don\u2019t", "do not", "stop",
        "no thanks", "No, cancel", "never mind", "abort", "not now",
    )],
    *[(text, Reply.UNCLEAR) for text in (
        *AMBIGUOUS, "yes?", "go ahead?", "no?", "no wait, make it 3.00", "I guess so", "not sure", "hmm",
        "wait", "hold on", "yes no", "thanks", "please", "are you sure?", "ok so where is my parcel?", "yes - do it",
    )],
    *[(text, Reply.UNRELATED) for text in (
        "where is my parcel?", "what is your refund policy", "tell me about blenders", "nothing",
        "cancellation policy?", "I want to talk to a human", "", "   ", "\U0001f44d",
    )],
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), TABLE)
def test_confirmation_table(text: str, expected: Reply) -> None:
    assert classify(text) is expected


@pytest.mark.parametrize("text", AMBIGUOUS)
def test_no_ambiguous_reply_confirms(text: str) -> None:
    assert classify(text) is Reply.UNCLEAR


def test_only_the_whole_message_counts() -> None:
    assert classify("yes " * 5) is Reply.YES  # still nothing but yes
    assert classify("yes, refund order ord-00042 instead") is Reply.UNCLEAR
    assert classify("my answer is yes") is Reply.UNRELATED  # not an opening we know: a normal turn, nothing runs
