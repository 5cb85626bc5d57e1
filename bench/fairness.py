"""Fair share: a quiet tenant's chat latency alone, beside a noisy tenant at 10x its limit, and beside
the same noise with no limit (issue 12).

A mesh of real processes (``run_test_mesh``, fake provider at 50 ms). The quiet tenant sends one
chat every 0.5 s (open loop: on schedule, whatever the answers take) on the default limits. The
noisy tenant, whose platform limit is ``NOISY_RPS`` requests/s, sends 10x that. The last phase
sends the same noise from a tenant whose limits are out of reach, to show what the limits buy.
Every chat is pinned to the general agent, so routing adds no model call.

    flock /tmp/meshline-bench.lock .venv/bin/python bench/fairness.py [--phase-s 25]

Prints the figures and writes bench/results/fairness.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import meshline
from meshline.testing import TestMesh, run_test_mesh

RESULTS = Path(__file__).parent / "results" / "fairness.json"
NOISY_RPS = 5.0
NOISE_FACTOR = 10
QUIET_INTERVAL_S = 0.5
MAX_IN_FLIGHT = 64  # per sender: a saturated mesh is not sent an unbounded backlog
OUT_OF_REACH = {"rate_limit_rps": 10_000, "max_concurrent_turns": 10_000}
TENANT_LIMITS = {"noisy": {"rate_limit_rps": NOISY_RPS}, "unlimited": OUT_OF_REACH}


@dataclass
class Tally:
    seconds: list[float] = field(default_factory=list)  # successful turns
    refused: int = 0
    refused_by: dict[str, int] = field(default_factory=dict)  # problem code -> count
    degraded: int = 0
    errors: int = 0
    sent: int = 0
    skipped: int = 0  # not sent: MAX_IN_FLIGHT of this sender were still waiting

    def summary(self) -> dict[str, Any]:
        ok = sorted(self.seconds)
        p99 = statistics.quantiles(ok, n=100)[98] if len(ok) >= 2 else (ok[0] if ok else 0.0)
        return {
            "sent": self.sent,
            "ok": len(ok),
            "refused_429": self.refused,
            "refused_by": self.refused_by,
            "degraded": self.degraded,
            "errors": self.errors,
            "skipped": self.skipped,
            "refused_share": round(self.refused / self.sent, 3) if self.sent else 0.0,
            "p50_ms": round(1000 * statistics.median(ok), 1) if ok else None,
            "p99_ms": round(1000 * p99, 1) if ok else None,
        }


async def one(http: httpx.AsyncClient, key: str, message: str, tally: Tally) -> None:
    tally.sent += 1
    began = time.perf_counter()
    try:
        response = await http.post(
            "/v1/chat", json={"message": message, "agent": "general"}, headers={"authorization": f"Bearer {key}"}
        )
    except httpx.HTTPError:
        tally.errors += 1
        return
    if response.status_code == 429:
        tally.refused += 1
        code = str(response.json().get("code"))
        tally.refused_by[code] = tally.refused_by.get(code, 0) + 1
    elif response.status_code != 200:
        tally.errors += 1
    elif response.json().get("degraded"):
        tally.degraded += 1
    else:
        tally.seconds.append(time.perf_counter() - began)


async def open_loop(http: httpx.AsyncClient, key: str, rate: float, until: float, message: str) -> Tally:
    """Send at ``rate`` per second on schedule until ``until``; wait for what is in flight."""
    tally, tasks = Tally(), set[asyncio.Task[None]]()
    next_at = time.monotonic()
    while next_at < until:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        next_at += 1 / rate
        if len(tasks) >= MAX_IN_FLIGHT:
            tally.skipped += 1
            continue
        task = asyncio.create_task(one(http, key, message, tally))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return tally


async def phase(mesh: TestMesh, quiet: str, noisy: str | None, seconds: float) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=2 * MAX_IN_FLIGHT + 8)
    async with httpx.AsyncClient(base_url=mesh.url, timeout=120, limits=limits) as http:
        until = time.monotonic() + seconds
        senders = [open_loop(http, quiet, 1 / QUIET_INTERVAL_S, until, "what are your opening hours?")]
        if noisy is not None:
            senders.append(open_loop(http, noisy, NOISY_RPS * NOISE_FACTOR, until, "tell me all about your shop"))
        tallies = await asyncio.gather(*senders)
    result = {"quiet": tallies[0].summary()}
    if noisy is not None:
        result["noisy"] = tallies[1].summary()
    return result


def mint(mesh: TestMesh, tenant: str, **limits: Any) -> str:
    with meshline.Client(mesh.url, mesh.admin_key) as admin:
        return admin.keys.create(tenant, ["chat"], **limits).key


async def measure(mesh: TestMesh, seconds: float) -> dict[str, Any]:
    quiet, noisy = mint(mesh, "quiet"), mint(mesh, "noisy")
    unlimited = mint(mesh, "unlimited", **OUT_OF_REACH)
    warm = Tally()
    async with httpx.AsyncClient(base_url=mesh.url, timeout=60) as http:
        for _ in range(10):
            await one(http, quiet, "hello", warm)
    return {
        "settings": {
            "provider_latency_ms": 50,
            "phase_s": seconds,
            "quiet_rps": 1 / QUIET_INTERVAL_S,
            "noisy_limit_rps": NOISY_RPS,
            "noisy_rps": NOISY_RPS * NOISE_FACTOR,
        },
        "alone": await phase(mesh, quiet, None, seconds),
        "beside_noisy": await phase(mesh, quiet, noisy, seconds),
        "beside_unlimited_noise": await phase(mesh, quiet, unlimited, seconds),
    }


def say(line: str) -> None:
    print(line)  # noqa: T201 - a benchmark reports on stdout


def report(results: dict[str, Any]) -> None:
    s = results["settings"]
    say(f"quiet tenant at {s['quiet_rps']:g}/s; noisy at {s['noisy_rps']:g}/s, its limit {s['noisy_limit_rps']:g}/s")
    for name in ("alone", "beside_noisy", "beside_unlimited_noise"):
        q = results[name]["quiet"]
        line = (
            f"{name:24} quiet p50 {q['p50_ms']} ms p99 {q['p99_ms']} ms "
            f"({q['ok']}/{q['sent']} ok, {q['refused_429']} refused, {q['degraded']} degraded)"
        )
        noisy = results[name].get("noisy")
        if noisy:
            line += f"; noisy {noisy['refused_share']:.1%} refused ({noisy['ok']} served, {noisy['skipped']} not sent)"
        say(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase-s", type=float, default=25.0, help="seconds of each phase")
    args = parser.parse_args()
    env = {"orchestrator": {"MESHLINE_ORCHESTRATOR_TENANT_LIMITS": json.dumps(TENANT_LIMITS)}}
    with tempfile.TemporaryDirectory() as tmp, run_test_mesh(Path(tmp) / ".meshline", 50.0, env=env) as mesh:
        results = asyncio.run(measure(mesh, args.phase_s))
    report(results)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
