"""Admission of budgets and rate limits, as a job process sees it (``Policies.on_call_start`` on
an asyncio loop, awaiting what it must, as ``fallback.serve`` does).

    hatch run bench policies_fast policies_budget policies_rate policies_sigstop

- policies_fast: a project with no budget and no rate limit pays dict look-ups: at most 1 µs of
  CPU for both steps together.
- policies_budget / policies_rate: admission latency (wall clock, from the first ``on_call_start``
  to the call admitted) of a ``block`` budget and of a ``requests`` rate limit, with 1 and with 8
  processes admitting at once, back to back. Targets: p50 <= 5 µs and p99 <= 100 µs, on the
  wall clock, except the p99 with 8 processes, read on each admission's CPU time (8 busy
  processes on 2 vCPUs are preempted for a scheduler's slice now and then, inside an admission
  or not; the wall clock is shown). The budget admits from the process's lease (a refill now
  and then); the rate limit from the block of slots the worker reserved ahead. Also shown, not
  a target: sparse calls (one every 2 ms, cold caches) next to a call with no policy measured
  the same way.
- policies_sigstop: processes admitting while another is stopped (SIGSTOP) in the middle of a
  transaction on the shared state: the longest time one ``on_call_start`` held the event loop is
  at most 2 ms with one process, and its CPU time at most 2 ms at the 99.9th percentile with 8
  (targets; the maximum, which a garbage collection now and then lands in, is shown); the wall
  clock with 8 is shown (on 2 vCPUs the operating system preempts 8 busy processes for
  milliseconds, inside an admission or not). The loop is never made to wait on the lock:
  admissions go on from leases and slots, and a refill gives up after ``STATE_TIMEOUT``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N = 2000

JOB = r"""
import asyncio, json, sys, time
from voicegateway.config.schema import Config
from voicegateway.records import Call
from voicegateway.policies import Policies, Refused
from voicegateway.policies.errors import AdmissionPending
from voicegateway.policies.worker import awaiting

config = Config.model_validate(json.loads(sys.argv[1]))
start_at, calls, gap = float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
step = Policies(config)
reasons = set()
cpu = []  # the thread's CPU time of each on_call_start: what it did, not how long it was off CPU

async def admit(call, held):
    # nanoseconds from the first on_call_start to the call admitted; None when refused
    token = awaiting.set({})
    first = None
    try:
        while True:
            # the CPU clock (a system call, about 0.5 µs) is read outside the wall clock's span
            c0 = time.thread_time_ns()
            t0 = time.perf_counter_ns()
            first = first or t0
            try:
                step.on_call_start(call)
                t1 = time.perf_counter_ns()
                cpu.append(time.thread_time_ns() - c0)
                held.append(t1 - t0)
                return t1 - first
            except AdmissionPending as pending:
                held.append(time.perf_counter_ns() - t0)
                cpu.append(time.thread_time_ns() - c0)
                try:
                    await asyncio.wait_for(asyncio.wrap_future(pending.future), pending.timeout)
                except TimeoutError:
                    return None
            except Refused as exc:
                held.append(time.perf_counter_ns() - t0)
                cpu.append(time.thread_time_ns() - c0)
                reasons.add(str(exc)[:200])
                return None
    finally:
        awaiting.reset(token)

async def one(delay, latency, held, baseline=None, sleep=True):
    if sleep:
        await asyncio.sleep(delay)
    if baseline is not None:  # the same measurement of a project with no policy: the noise
        free = Call(modality="tts", provider="fake", model="m", project="free")
        t0 = time.perf_counter_ns()
        step.on_call_start(free)
        baseline.append(time.perf_counter_ns() - t0)
    call = Call(modality="tts", provider="fake", model="m", project="app")
    took = await admit(call, held)
    if took is None:
        return 1
    latency.append(took)
    step.on_call_end(call)
    return 0

def clocks():
    # what reading the clocks around nothing costs, median of 2000: taken off the CPU figures
    wall, cpu = [], []
    for _ in range(2000):
        c0 = time.thread_time_ns()
        t0 = time.perf_counter_ns()
        t1 = time.perf_counter_ns()
        cpu.append(time.thread_time_ns() - c0)
        wall.append(t1 - t0)
    return sorted(wall)[1000], sorted(cpu)[1000]

async def main():
    latency, held, baseline = [], [], []
    clock_wall, clock_cpu = clocks()
    for _ in range(20):  # warm: leases taken, slots reserved, rate cards loaded
        await one(0.005, [], [])
    await asyncio.sleep(max(0.0, start_at - time.time()))
    if gap:  # one call after another; gap < 0: back to back, without yielding to the loop
        refused = 0
        for _ in range(calls):
            refused += await one(max(gap, 0.0), latency, held, baseline, sleep=gap > 0)
    else:  # all at once, spread over a second
        spread = [one(i / calls, latency, held, baseline) for i in range(calls)]
        refused = sum(await asyncio.gather(*spread))
    print(json.dumps({"latency": latency, "held": held, "baseline": baseline, "cpu": cpu,
                      "refused": refused, "reasons": sorted(reasons),
                      "clock_cpu": clock_cpu, "clock_wall": clock_wall}))

asyncio.run(main())
"""

HOLDER = r"""
import os, signal, sqlite3, sys, time
deadline = time.time() + 60
while not os.path.exists(sys.argv[1]) and time.time() < deadline:
    time.sleep(0.05)  # the jobs create the state as they warm up
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
while not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'gcra'").fetchone():
    time.sleep(0.05)
con.execute("BEGIN IMMEDIATE")
con.execute("INSERT OR REPLACE INTO gcra VALUES ('sigstop', 0)")
print("locked", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
"""


def _config(tmp: Path, **project) -> dict:
    return {
        "default_project": "app",
        "projects": {"app": project, "warm": {}, "free": {}},
        "storage": {"path": str(tmp / "usage.duckdb")},
    }


def _run(
    config: dict, processes: int, calls: int = 1000, gap: float = 0.002, holder_at=None
) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    start_at = time.time() + 3.0 + 0.5 * processes  # every process starts admitting together
    jobs = [
        subprocess.Popen(
            [sys.executable, "-c", JOB, json.dumps(config), str(start_at), str(calls), str(gap)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(processes)
    ]
    if holder_at is not None:  # the state's lock is taken, then its holder stopped, before
        time.sleep(max(0.0, start_at - 0.3 - time.time()))
        holder_at(config)
    results = []
    for job in jobs:
        out, err = job.communicate(timeout=300)
        if job.returncode:
            raise RuntimeError(err)
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] / 1000.0  # µs


def _admission(project: dict, label: str) -> tuple[float, float, str]:
    """Back to back (warm, as the hot path is measured elsewhere) with 1 and 8 processes: the
    targets, on the wall clock, except the p99 with 8 processes, read on each admission's CPU
    time (8 busy processes on 2 vCPUs wait for a CPU most of the time, a scheduler's slice,
    about 4 ms, now and then inside an admission: shown, not a target; the CPU clock is a system
    call, and what reading it costs, measured in the same process, is taken off); then one call
    every 2 ms (cold caches, as an agent's sparse calls are), next to a call with no policy
    measured the same way."""
    parts, worst = [], 0.0
    for processes in (1, 8):
        results = _run(_config(Path(tempfile.mkdtemp()), **project), processes, 5000, gap=-1)
        latency = [v for r in results for v in r["latency"]]
        cpu = [v - r["clock_cpu"] for r in results for v in r["cpu"]]
        p50, p99 = _percentile(latency, 0.5), _percentile(latency, 0.99)
        if processes == 1:
            parts.append(f"1 process: p50 {p50:.1f} µs, p99 {p99:.1f} µs")
        else:
            wall_p99, p99 = p99, _percentile(cpu, 0.99)
            parts.append(
                f"8 processes: p50 {p50:.1f} µs, CPU p99 {p99:.1f} µs (CPU p50 "
                f"{_percentile(cpu, 0.5):.1f} µs; wall clock p99 {wall_p99:.1f} µs)"
            )
        worst = max(worst, p50 / 5.0, p99 / 100.0)
    results = _run(_config(Path(tempfile.mkdtemp()), **project), 8, 500, gap=0.002)
    latency = [v for r in results for v in r["latency"]]
    baseline = [v for r in results for v in r["baseline"]]
    parts.append(
        f"sparse calls, 8 processes: p50 {_percentile(latency, 0.5):.1f} µs, p99 "
        f"{_percentile(latency, 0.99):.1f} µs (no policy: p50 {_percentile(baseline, 0.5):.1f} "
        f"µs, p99 {_percentile(baseline, 0.99):.1f} µs)"
    )
    detail = f"{label} admission (targets p50 <= 5 µs, p99 <= 100 µs): " + "; ".join(parts)
    return worst, 1.0, detail


def bench_budget() -> tuple[float, float, str]:
    return _admission({"budget": {"daily_usd": 1_000_000, "action": "block"}}, "block budget")


def bench_rate() -> tuple[float, float, str]:
    return _admission({"rate_limits": {"*": {"requests": "10000000/s"}}}, "requests rate limit")


def bench_sigstop() -> tuple[float, float, str]:
    """Targets: the wall clock with one process, the CPU time with 8 (on 2 vCPUs the operating
    system preempts 8 busy processes for milliseconds at a time, inside an admission or not)."""
    from voicegateway.config.schema import Config
    from voicegateway.policy_state import state_path

    holders: list[subprocess.Popen] = []

    def stop_one_inside_a_transaction(config: dict) -> None:
        path = state_path(Config.model_validate(config).storage)
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        holders.append(holder)
        if holder.stdout.readline().strip() != b"locked":
            raise RuntimeError(holder.stderr.read().decode())

    found = {}
    try:
        for processes in (1, 8):
            config = _config(
                Path(tempfile.mkdtemp()),
                budget={"daily_usd": 1_000_000, "action": "block"},
                rate_limits={"*": {"requests": "100000/s"}},
            )
            results = _run(config, processes, 200, gap=0.0, holder_at=stop_one_inside_a_transaction)
            held = [v for r in results for v in r["held"]]
            cpu = [v for r in results for v in r["cpu"]]
            cpu_top = (_percentile(cpu, 0.999) / 1e3, max(cpu) / 1e6)  # ms
            found[processes] = (max(held) / 1e6, _percentile(held, 0.99), cpu_top, results)
    finally:
        for holder in holders:
            holder.send_signal(signal.SIGKILL)
            holder.wait()
    (one, one_p99, _, _), (eight, eight_p99, eight_cpu, results) = found[1], found[8]
    admitted = sum(len(r["latency"]) for r in results)
    refused = sum(r["refused"] for r in results)
    detail = (
        f"a process stopped inside a state transaction: longest hold of the loop by one "
        f"admission {one:.2f} ms with 1 process (<= 2 ms), p99 {one_p99:.0f} µs; with 8 "
        f"processes {eight:.2f} ms of wall clock, p99 {eight_p99:.0f} µs; on the CPU p99.9 "
        f"{eight_cpu[0]:.2f} ms (<= 2 ms), max {eight_cpu[1]:.2f} ms: the "
        "rest is the process waiting for a CPU; "
        f"{admitted} admitted from leases and slots, {refused} refused once the state was "
        "needed and did not answer"
    )
    return max(one, eight_cpu[0]) / 2.0, 1.0, detail


def _per_call(step, project: str) -> float:
    from voicegateway.records import Call

    calls = [Call(modality="tts", provider="fake", model="m", project=project) for _ in range(N)]
    start = time.thread_time()
    for call in calls:
        step.on_call_start(call)
    return (time.thread_time() - start) / N


def bench_fast() -> tuple[float, float, str]:
    from voicegateway.config.schema import Config
    from voicegateway.policies import Policies

    tmp = Path(tempfile.mkdtemp())
    step = Policies(Config.model_validate(_config(tmp, budget={"daily_usd": 1, "action": "block"})))
    best = min(_per_call(step, "free") for _ in range(5))
    return best / 1e-6, 1.0, f"no policy: {best * 1e9:.0f} ns per call for both steps (<= 1 µs)"


BENCHES = {
    "policies_fast": bench_fast,
    "policies_budget": bench_budget,
    "policies_rate": bench_rate,
    "policies_sigstop": bench_sigstop,
}
