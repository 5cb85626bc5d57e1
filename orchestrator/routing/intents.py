"""Reading a message before it is routed: the requests it holds, and whether it leans on the thread."""

from __future__ import annotations

import re

# Sentence ends, and the conjunctions that join two requests ("... and change my email").
_SPLIT = re.compile(r"(?<=[.!?;])\s+|\s*[,;]?\s+\b(?:and also|and then|and|also|plus)\s+(?=\w)", re.IGNORECASE)
MIN_PART_WORDS = 3
MAX_PARTS = 4
# Words that point back at the conversation ("when will *it* arrive?"): such a message continues
# the thread's topic, however confidently its words alone match another agent's examples.
_REFERS_BACK = re.compile(r"\b(?:it|its|that|this|these|those|them|they)\b", re.IGNORECASE)


def split_intents(message: str) -> list[str]:
    """Candidate requests in a message: sentences and conjunction-joined clauses of 3+ words."""
    parts = [p.strip(" ,.;") for p in _SPLIT.split(message.strip())]
    parts = [p for p in parts if p]
    if len(parts) < 2 or any(len(p.split()) < MIN_PART_WORDS for p in parts):
        return [message.strip()]
    return parts[:MAX_PARTS]


def refers_back(message: str) -> bool:
    """Whether the message leans on the previous turn (a pronoun standing for what was discussed)."""
    return _REFERS_BACK.search(message) is not None
