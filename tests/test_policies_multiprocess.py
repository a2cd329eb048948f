"""Budgets and rate limits across real processes: racing one ``block`` budget spends it to within
one call and never past the stated bound,
a SIGKILLed process's reservation is released, and N/s holds under load from several processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from voicegateway.config.schema import Config
from voicegateway.ledger import Ledger
from voicegateway.policies import BudgetExceeded, Budgets, SharedState
from voicegateway.records import Call

pytestmark = pytest.mark.slow  # processes racing one budget or rate

COMMON = """
import json, os, random, sys, time
from decimal import Decimal
from voicegateway.config.schema import Config
from voicegateway.ledger.spool import Spooler
from voicegateway.metering.middleware import Middleware, MiddlewareChain, Recording
from voicegateway.records import Call, UsageRecord
from voicegateway.policies import BudgetExceeded, Policies, SharedState

config = Config.model_validate(json.loads(sys.argv[1]))
state = SharedState.for_storage(config.storage)
spool = Spooler(config.storage.spool_dir, flush_interval=0.05)

class Price(Middleware):  # stands in for CostTracking: each record costs what the test says
    name = "price"
    def on_usage(self, call, record):
        record.cost_usd = Decimal(str(random.uniform(0.005, 0.01))).quantize(Decimal("1e-6"))

steps = [Price(), Policies(config, state), Recording(spool)]  # Policies after the cost
chain = MiddlewareChain(steps)
"""

RACE = (
    COMMON
    + """
admitted = refused = 0
while refused < 5:
    call = Call(modality="tts", provider="fake", model="m", project="app")
    try:
        chain.start(call)
    except BudgetExceeded:
        refused += 1
        time.sleep(0.01)
        continue
    admitted += 1
    time.sleep(random.uniform(0, 0.01))  # the call is in flight
    chain.usage(call, UsageRecord.for_call(call))
    chain.end(call)
spool.close()
print(json.dumps({"admitted": admitted}))
"""
)

HOLD = (
    COMMON
    + """
call = Call(modality="tts", provider="fake", model="m", project="app")
chain.start(call)
print("holding", flush=True)
time.sleep(120)
"""
)

RATE = (
    COMMON
    + """
stamps = []
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))  # every worker starts together
for _ in range(int(sys.argv[2])):
    call = Call(modality="llm", provider="openai", model="m", project="app")
    chain.start(call)
    stamps.append(time.time())
    chain.end(call)
print(json.dumps(stamps))
"""
)


def data(tmp_path: Path, **project) -> dict:
    return {
        "default_project": "app",
        "projects": {"app": project},
        "storage": {"path": str(tmp_path / "usage.duckdb")},
    }


def spawn(script: str, config: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, json.dumps(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("lease", [0, 0.2])
def test_four_processes_racing_one_block_budget_never_overspend(tmp_path, lease):
    limit = Decimal("0.40")
    budget = {"daily_usd": str(limit), "action": "block", "reserve_usd": "0.01", "lease": lease}
    config = data(tmp_path, budget=budget)
    workers = [spawn(RACE, config) for _ in range(4)]
    admitted = 0
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        admitted += json.loads(out)["admitted"]
    cfg = Config.model_validate(config)
    with Ledger.from_config(cfg.storage).open() as con:
        rows, total = con.execute("SELECT count(*), sum(cost_usd) FROM usage").fetchone()
    assert rows == admitted  # every admitted call is in the ledger
    # each process has one call in flight at a time, costing at most $0.01: the stated bound is
    # the limit plus the calls in flight when it was reached; and the budget is used to within
    # one call of its limit (the last calls are admitted against what remains)
    assert limit - Decimal("0.01") <= total <= limit + 4 * Decimal("0.01")
    assert admitted >= 40


def test_a_sigkilled_process_reservation_is_released(tmp_path):
    config = data(tmp_path, budget={"daily_usd": "0.30", "action": "block", "reserve_usd": "0.30"})
    holder = spawn(HOLD, config)
    assert holder.stdout.readline().strip() == "holding"
    cfg = Config.model_validate(config)
    state = SharedState.for_storage(cfg.storage)
    budgets = Budgets(cfg, state)
    with pytest.raises(BudgetExceeded):  # the holder's call holds all of the 0.30
        budgets.on_call_start(Call(modality="tts", provider="fake", model="m", project="app"))
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    call = Call(modality="tts", provider="fake", model="m", project="app")
    budgets.on_call_start(call)  # the dead process's 0.30 is gone
    budgets.on_call_end(call)
    budgets._releasing = True  # as at exit: the lease goes back
    budgets.sync()
    assert not any(state.holds_by_key().values())


def test_a_sigkilled_zombie_is_released_too(tmp_path):
    config = data(tmp_path, budget={"daily_usd": "0.50", "action": "block", "reserve_usd": "0.30"})
    holder = spawn(HOLD, config)
    assert holder.stdout.readline().strip() == "holding"
    os.kill(holder.pid, signal.SIGKILL)
    time.sleep(0.2)  # not waited for: a zombie until the end of the test
    cfg = Config.model_validate(config)
    Budgets(cfg).on_call_start(Call(modality="tts", provider="fake", model="m", project="app"))
    holder.wait(timeout=10)


def test_a_rate_of_n_per_second_holds_across_processes(tmp_path):
    rate = 20
    config = data(
        tmp_path,
        rate_limits={"openai": {"requests": f"{rate}/s", "on_limit": "wait", "max_wait": 30}},
    )
    start = str(time.time() + 4.0)  # after every worker has imported, even on a busy machine
    workers = [spawn(RATE, config, "20", start) for _ in range(4)]
    stamps = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        stamps += json.loads(out)
    stamps.sort()
    # the first processes to start may find an idle limiter: measure from the 10th call on
    window = stamps[10:]
    observed = (len(window) - 1) / (window[-1] - window[0])
    assert observed == pytest.approx(rate, rel=0.10), observed
    for i, start in enumerate(window):  # no bursts: at most N (+ scheduling slack) in any second
        assert sum(1 for t in window[i:] if t < start + 1.0) <= rate + 2
