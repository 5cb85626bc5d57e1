"""What one dispatch to an agent ended with: the result that answers, and why the agent could not.

``AgentCaller.invoke`` never raises for an agent's failure: a fallback's result or the honest
degraded reply answers instead, and :class:`DispatchFailure` says, as a value, what went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from meshline.contracts import AgentResult
from meshline.errors import MeshlineError


class DispatchFailure(BaseModel):
    """Why ``agent`` did not answer: the error's code, whether trying again may help, its message.

    A model, not a dataclass: the turn's state keeps it, and checkpoints revive it validated."""

    model_config = ConfigDict(frozen=True)

    agent: str
    code: str
    retryable: bool
    message: str

    @classmethod
    def of(cls, agent: str, error: MeshlineError) -> DispatchFailure:
        return cls(agent=agent, code=error.code, retryable=error.retryable, message=error.detail)


@dataclass(frozen=True)
class DispatchOutcome:
    """The result that answers (the agent's, its fallback's or a degraded reply) and, if the agent
    failed, why; ``failure`` is None exactly when the agent itself answered."""

    result: AgentResult
    failure: DispatchFailure | None = None
