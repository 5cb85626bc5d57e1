"""The chaos suite: real processes are killed, hung and restarted under load; users must not notice more than they must.

Scenarios (issue 6): a replica lost, an agent down, its recovery, a misbehaving provider,
Redis lost and back, an agent that never answers. Loads are bounded in count and time.
"""

from __future__ import annotations

import pytest

from meshline.testing import chaos
from meshline.testing.mesh import TestMesh

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]


async def test_a_losing_one_of_two_replicas_mid_load_fails_no_request(chaos_mesh: TestMesh) -> None:
    result = await chaos.replica_loss(chaos_mesh, requests=300, concurrency=16)
    assert result["requests"] == 300
    assert result["errors"] == 0, result


async def test_b_a_dead_agent_opens_its_breaker_and_its_chats_get_the_fallback(chaos_mesh: TestMesh) -> None:
    result = await chaos.agent_down(chaos_mesh, requests=60, concurrency=4)
    assert result["errors"] == 0, result  # never a bare error: every chat is answered
    assert result["fallbacks"] == result["requests"], result
    assert result["max_ms"] < result["deadline_ms"], result
    # Opened within the configured failures: the minimum calls, give or take those in flight.
    assert result["calls_before_open"] <= chaos.BREAKER_MIN_CALLS + 4, result
    assert result["other_errors"] == 0, result
    before, during = result["other_before"]["p50_ms"], result["other_during"]["p50_ms"]
    assert during <= before * 1.25 + 10, result  # +10 ms: one timer tick on a shared 2-core machine


async def test_c_the_restarted_agent_gets_its_traffic_back_after_one_probe(chaos_mesh: TestMesh) -> None:
    result = await chaos.recovery(chaos_mesh)
    assert result["recovered_after_s"] <= result["bound_s"], result
    assert result["breaker_after"] == "closed", result
    assert result["errors_while_recovering"] == 0 and result["errors_after"] == 0, result


@pytest.mark.parametrize("mode", ["429", "500", "hang"])
async def test_d_a_failing_provider_is_replaced_by_the_backup_model_within_the_deadline(
    chaos_mesh: TestMesh, mode: str
) -> None:
    result = await chaos.provider_outage(chaos_mesh, mode)
    assert result["errors"] == 0, result
    assert result["primary_calls"] >= 1, result  # the failing model was really tried
    assert result["backup_calls"] >= result["requests"], result
    assert result["max_ms"] < result["deadline_ms"], result


async def test_e_chat_keeps_answering_while_redis_is_down_and_state_resynchronises(chaos_mesh: TestMesh) -> None:
    result = await chaos.redis_outage(chaos_mesh)
    assert result["errors"] == 0, result
    assert result["during_outage"] > 0 and result["during_outage_ok"] == result["during_outage"], result
    assert {"general", "commerce", "account"} <= set(result["services_after"]), result
    assert all(state in ("closed", "half_open", "open") for state in result["breakers_after"].values()), result


async def test_f_an_agent_that_never_answers_is_cut_at_the_deadline_and_leaks_nothing(chaos_mesh: TestMesh) -> None:
    result = await chaos.slow_agent(chaos_mesh)
    assert result["answered"] == result["requests"] and result["degraded"] == result["requests"], result
    assert result["max_ms"] < result["deadline_ms"] + 500, result
    assert result["other_errors"] == 0, result
    before, during = result["other_before"]["p50_ms"], result["other_during"]["p50_ms"]
    assert during <= before * 1.25 + 10, result
    assert 0 <= result["drained_after_s"] <= 5, result  # no provider call or dispatch left hanging
