"""What counts as the user's yes or no to a question an agent asked (a side effect to confirm).

Shared by the agents, which act on the answer, and the orchestrator, which sends a clear yes or
no to the agent whose question is open instead of routing it like a new request.
"""

from __future__ import annotations

import re

YES = {"yes", "y", "yeah", "yep", "sure", "ok", "okay", "confirm", "confirmed", "go ahead", "do it", "please do",
       "yes please", "proceed", "correct"}  # fmt: skip
NO = {"no", "n", "nope", "cancel", "stop", "don't", "do not", "no thanks", "never mind", "abort"}


def _normalized(text: str) -> str:
    return re.sub(r"[^a-z' ]", "", text.lower()).strip()


def answer(text: str) -> bool | None:
    """True for a clear yes, False for a clear no, None for anything else."""
    words = _normalized(text)
    first = words.split(" ", 1)[0] if words else ""
    if words in YES or (first in YES and not any(n in words for n in ("no", "not", "don't"))):
        return True
    if words in NO or first in NO:
        return False
    return None
