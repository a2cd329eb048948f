"""Budget and rate-limit checks on the hot path (``on_call_start`` of the policy steps).

    hatch run bench policies_fast policies_budget policies_rate

- policies_fast: a project with no budget and no rate limit pays a dict lookup per step: at most
  1 µs for both steps together.
- policies_lease: admission of a ``block`` budget by ``LeasedBudgets``, from the process's lease
  (a refill transaction now and then): at most 1 µs.
- policies_budget / policies_rate: admission of a ``block`` budget (reserve, then release at the
  end of the call) and of a ``requests`` rate limit, each one ``BEGIN IMMEDIATE`` transaction on
  the shared SQLite state. The target for these is 1 µs (leases: take a slice of the shared
  budget or rate in one transaction, admit locally from it): ``LeasedBudgets`` does it for budgets
  (policies_lease); rate limits have no lease yet, so their target is the interim one of 1 ms.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

N = 2000


def _config(tmp: Path, **project):
    from voicegateway.config.schema import Config

    return Config.model_validate(
        {
            "default_project": "app",
            "projects": {"app": project, "free": {}},
            "storage": {"path": str(tmp / "usage.duckdb")},
        }
    )


def _per_call(step, project: str, end: bool) -> float:
    from voicegateway.metering.records import Call

    calls = [Call(modality="tts", provider="fake", model="m", project=project) for _ in range(N)]
    start = time.thread_time()
    for call in calls:
        step.on_call_start(call)
        if end:
            step.on_call_end(call)
    return (time.thread_time() - start) / N


def bench_fast() -> tuple[float, float, str]:
    from voicegateway.policies import Budgets, RateLimits

    tmp = Path(tempfile.mkdtemp())
    config = _config(tmp, budget={"daily_usd": 1000, "action": "block"})
    budgets, limits = Budgets(config), RateLimits(config)
    best = min(
        _per_call(budgets, "free", False) + _per_call(limits, "free", False) for _ in range(5)
    )
    return best / 1e-6, 1.0, f"no policy: {best * 1e9:.0f} ns per call for both steps (<= 1 µs)"


def bench_budget() -> tuple[float, float, str]:
    from voicegateway.policies import Budgets

    tmp = Path(tempfile.mkdtemp())
    step = Budgets(_config(tmp, budget={"daily_usd": 1_000_000, "action": "block"}))
    best = min(_per_call(step, "app", True) for _ in range(3))
    detail = (
        f"block budget, reserve + release: {best * 1e6:.0f} µs CPU per call "
        f"(interim target <= 1 ms; lease target 1 µs: {best / 1e-6:.0f}x off)"
    )
    return best / 1e-3, 1.0, detail


def bench_rate() -> tuple[float, float, str]:
    from voicegateway.policies import RateLimits

    tmp = Path(tempfile.mkdtemp())
    step = RateLimits(_config(tmp, rate_limits={"*": {"requests": "1000000/s", "burst": 100}}))
    best = min(_per_call(step, "app", False) for _ in range(3))
    detail = (
        f"GCRA requests limit: {best * 1e6:.0f} µs CPU per admission "
        f"(interim target <= 1 ms; lease target 1 µs: {best / 1e-6:.0f}x off)"
    )
    return best / 1e-3, 1.0, detail


def bench_lease() -> tuple[float, float, str]:
    """The admission check alone (``on_call_start``), and the end of the call apart."""
    from voicegateway.metering.records import Call
    from voicegateway.policies.leases import LeasedBudgets

    tmp = Path(tempfile.mkdtemp())
    config = _config(tmp, budget={"daily_usd": 1_000_000, "action": "block"})
    step = LeasedBudgets(config, lease=0.1)
    admit = end = float("inf")
    for _ in range(5):
        calls = [Call(modality="tts", provider="fake", model="m", project="app") for _ in range(N)]
        start = time.thread_time()
        for call in calls:
            step.on_call_start(call)
        middle = time.thread_time()
        for call in calls:
            step.on_call_end(call)
        admit = min(admit, (middle - start) / N)
        end = min(end, (time.thread_time() - middle) / N)
    detail = (
        f"block budget from a lease: admission {admit * 1e9:.0f} ns CPU (<= 1 µs), "
        f"end of call {end * 1e9:.0f} ns"
    )
    return admit / 1e-6, 1.0, detail


BENCHES = {
    "policies_fast": bench_fast,
    "policies_lease": bench_lease,
    "policies_budget": bench_budget,
    "policies_rate": bench_rate,
}
