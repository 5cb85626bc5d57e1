"""What the user's reply to an agent's question (a side effect to confirm) means.

Shared by the agents, which act on it, and the orchestrator, which sends any reply that reads
like an answer to the agent whose question is open instead of routing it like a new request.

Only an unambiguous yes confirms: the whole message (case, spaces, commas and a trailing ``.``
or ``!`` aside) is made of the phrases in ``YES`` (and polite fillers), nothing else — no
question mark, no further request. The same for ``NO``. A message that starts like an answer
(a yes or no word, or a hedge such as "maybe") but is not one of those is ``UNCLEAR``: the
agent asks again. Anything else is a new request (``UNRELATED``): handled as a normal turn,
the question staying open.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Reply(StrEnum):
    YES = "yes"  # run the call
    NO = "no"  # cancel it
    UNCLEAR = "unclear"  # reads like an answer but is not a clear one: ask again
    UNRELATED = "unrelated"  # a new request: a normal turn, the question stays open


YES = frozenset({
    "yes", "y", "yep", "yup", "yeah", "sure", "ok", "okay", "confirm", "confirmed", "go ahead", "do it",
    "please do", "yes please", "proceed", "correct", "alright", "all right", "go for it",
})  # fmt: skip
NO = frozenset({
    "no", "n", "nope", "nah", "cancel", "cancel it", "cancel that", "stop", "don't", "dont", "do not",
    "don't do it", "do not do it", "no thanks", "no way", "never mind", "nevermind", "abort", "not now",
})  # fmt: skip
FILLERS = frozenset({"please", "thanks", "thank you"})  # polite words that change neither answer
# Openings of a reply that is about the question but decides nothing.
HEDGES = frozenset({
    "maybe", "perhaps", "possibly", "probably", "hmm", "hm", "um", "uh", "wait", "hold on", "hang on",
    "not sure", "i guess", "i think", "i suppose", "i don't know", "dunno", "let me think", "not yet",
    "are you sure", "really", "huh", "fine", "please", "thanks", "thank you",
})  # fmt: skip
_VOCABULARY = {**{p: "filler" for p in FILLERS}, **{p: "yes" for p in YES}, **{p: "no" for p in NO}}
_LONGEST = max(len(p.split()) for p in (*_VOCABULARY, *HEDGES))
_TOKEN = re.compile(r"[a-z0-9']+|[^\sa-z0-9']")


def _tokens(text: str) -> list[str]:
    text = text.lower().replace("\u2019", "'").replace(",", " ")
    return _TOKEN.findall(re.sub(r"[\s.!]+$", "", text.strip()))


def _phrases(tokens: list[str]) -> list[str] | None:
    """``tokens`` as a sequence of known phrases (longest first), or None if any token is not one."""
    out, i = [], 0
    while i < len(tokens):
        for n in range(min(_LONGEST, len(tokens) - i), 0, -1):
            phrase = " ".join(tokens[i : i + n])
            if phrase in _VOCABULARY:
                out.append(_VOCABULARY[phrase])
                i += n
                break
        else:
            return None
    return out


def _opens_like_an_answer(tokens: list[str]) -> bool:
    for n in range(min(_LONGEST, len(tokens)), 0, -1):
        phrase = " ".join(tokens[:n])
        if phrase in YES or phrase in NO or phrase in HEDGES:
            return True
    return False


def classify(text: str) -> Reply:
    """What ``text``, the user's whole message, says to an open question."""
    tokens = _tokens(text)
    kinds = set(_phrases(tokens) or ()) - {"filler"}
    if kinds == {"yes"}:
        return Reply.YES
    if kinds == {"no"}:
        return Reply.NO
    return Reply.UNCLEAR if tokens and _opens_like_an_answer(tokens) else Reply.UNRELATED
