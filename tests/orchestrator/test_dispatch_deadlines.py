"""A turn's deadline: the request's ``timeout_s`` (or an inbound deadline header) within the mesh's
bounds, else 422 naming them; the operator's default is never refused."""

from __future__ import annotations

import pytest

from meshline.errors import Unprocessable
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.resilience.deadlines import TurnTimeouts

BOUNDS = TurnTimeouts(default_s=120, min_s=5, max_s=300)


@pytest.mark.parametrize(
    ("requested", "inbound", "budget"),
    [(None, None, 120), (5, None, 5), (300, None, 300), (60, 30.0, 30.0), (None, 200.0, 120), (None, 7.5, 7.5)],
)
def test_the_turn_gets_the_shortest_of_what_it_asked(
    requested: float | None, inbound: float | None, budget: float
) -> None:
    assert BOUNDS.budget(requested, inbound) == budget


@pytest.mark.parametrize(
    ("requested", "inbound", "named"),
    [
        (0.95, None, "timeout_s"),
        (5e-324, None, "timeout_s"),
        (300.5, None, "timeout_s"),
        (60, 1.0, "X-Meshline-Deadline"),
    ],
)
def test_a_deadline_the_turn_cannot_meet_is_refused_naming_the_limit(
    requested: float | None, inbound: float | None, named: str
) -> None:
    with pytest.raises(Unprocessable) as refused:
        BOUNDS.budget(requested, inbound)
    assert (refused.value.status, refused.value.code, refused.value.retryable) == (422, "timeout_out_of_range", False)
    assert named in refused.value.detail and "5 to 300s" in refused.value.detail


def test_the_operators_default_is_not_checked_against_the_bounds() -> None:
    assert TurnTimeouts(default_s=2, min_s=5, max_s=300).budget(None) == 2


def test_settings_keep_the_minimum_above_the_dispatch_reserve() -> None:
    with pytest.raises(ValueError, match="dispatch_reserve_s < min_turn_timeout_s"):
        OrchestratorSettings(dispatch_reserve_s=5, min_turn_timeout_s=5)
    with pytest.raises(ValueError, match="min_turn_timeout_s <= max_turn_timeout_s"):
        OrchestratorSettings(min_turn_timeout_s=60, max_turn_timeout_s=30)
