"""Budgets under faults, with real processes: a threshold crossed by several processes racing is
announced once to the webhook; a process stopped (SIGSTOP) in the middle of a transaction on the
policy state never makes an agent's event loop wait (calls go on from the lease, a refill gives up
after ``STATE_TIMEOUT`` and refuses); a corrupt state is one line from ``voicegw budgets``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from decimal import Decimal

import pytest

from voicegateway.config.schema import Config
from voicegateway.policies import BudgetUnknown, Policies
from voicegateway.policies.errors import AdmissionPending
from voicegateway.policies.worker import STATE_TIMEOUT, awaiting
from voicegateway.policy_state import state_path
from voicegateway.records import Call, UsageRecord
from voicegateway_testkit.loop import measure_loop_gaps

from .test_budget_notify import Receiver

pytestmark = pytest.mark.slow

SPENDER = textwrap.dedent("""
    import json, sys, time
    from decimal import Decimal
    from voicegateway.config.schema import Config
    from voicegateway.records import Call, UsageRecord
    from voicegateway.policies import Budgets

    config = Config.model_validate(json.loads(sys.argv[1]))
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # every process starts together
    budgets = Budgets(config)
    for _ in range(10):
        call = Call(modality="tts", provider="fake", model="m", project="app")
        budgets.on_call_start(call)
        record = UsageRecord.for_call(call)
        record.cost_usd = Decimal("0.01")
        budgets.on_usage(call, record)
        budgets.on_call_end(call)
        budgets.sync()
""")


def test_racing_processes_announce_each_crossing_once(tmp_path):
    receiver = Receiver()
    try:
        config = {
            "default_project": "app",
            "storage": {"path": str(tmp_path / "usage.duckdb")},
            "projects": {
                "app": {
                    "budget": {
                        "daily_usd": "0.20",
                        "action": "warn",
                        "thresholds": [0.5, 1.0],
                        "notify": {"webhook": receiver.url},
                    }
                }
            },
        }
        start = time.time() + 3
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        spenders = [
            subprocess.Popen(
                [sys.executable, "-c", SPENDER, json.dumps(config), str(start)],
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        errors = [spender.communicate(timeout=60)[1] for spender in spenders]
        assert all(spender.returncode == 0 for spender in spenders), errors
        # 4 processes x 10 x $0.01 = $0.40: both thresholds crossed, each announced once
        posted = [body["text"] for _, _, body in receiver.requests]
        assert len(posted) == 2, posted
        assert {"crossed 50%", "crossed 100%"} == {
            f"crossed {p}%" for p in (50, 100) for text in posted if f"crossed {p}%" in text
        }
        assert all("of $0.2)" in text for text in posted)  # exact amounts, no float noise
        assert all(receiver.url not in error for error in errors)
    finally:
        receiver.close()


HOLDER = textwrap.dedent("""
    import os, signal, sqlite3, sys
    con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
    con.execute("BEGIN IMMEDIATE")
    con.execute("INSERT OR REPLACE INTO gcra VALUES ('stopped', 0)")
    print("locked", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)
""")


async def _admit(step: Policies, call: Call) -> None:
    """What ``fallback.serve`` does: await the policy state, never block on it."""
    token = awaiting.set({})
    try:
        while True:
            try:
                return step.on_call_start(call)
            except AdmissionPending as pending:
                await asyncio.wait_for(asyncio.wrap_future(pending.future), pending.timeout + 1)
    finally:
        awaiting.reset(token)


async def test_a_process_stopped_inside_a_transaction_never_stalls_the_loop(tmp_path):
    config = Config.model_validate(
        {
            "default_project": "app",
            "storage": {"path": str(tmp_path / "usage.duckdb")},
            "projects": {
                "app": {"budget": {"daily_usd": 1, "action": "block", "reserve_usd": "0.01"}},
                "tight": {"budget": {"daily_usd": 1, "action": "block", "lease": 0}},
            },
        }
    )
    step = Policies(config)
    await _admit(step, Call(modality="tts", provider="fake", model="m", project="app"))  # a lease
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state_path(config.storage))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"

        async def calls() -> tuple[int, BaseException | None]:
            admitted = 0
            for _ in range(5):  # from the lease: no state needed
                call = Call(modality="tts", provider="fake", model="m", project="app")
                await _admit(step, call)
                record = UsageRecord.for_call(call)
                record.cost_usd = Decimal("0.01")
                step.on_usage(call, record)
                step.on_call_end(call)
                admitted += 1
            try:  # lease 0: every call needs the state, which does not answer
                await _admit(
                    step, Call(modality="tts", provider="fake", model="m", project="tight")
                )
            except BudgetUnknown as refused:
                return admitted, refused
            return admitted, None

        (admitted, refused), longest_gap, took = await measure_loop_gaps(calls())
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert admitted == 5
    assert isinstance(refused, BudgetUnknown) and "busy" in str(refused)
    assert took >= STATE_TIMEOUT * 0.9  # the refusal came after the state's timeout...
    assert longest_gap < 0.1  # ...and the loop kept ticking every 10 ms meanwhile


def test_voicegw_budgets_names_a_corrupt_state_in_one_line(tmp_path):
    config = tmp_path / "voicegw.yaml"
    config.write_text(
        textwrap.dedent(f"""
        default_project: app
        storage: {{path: "{tmp_path / "usage.duckdb"}"}}
        projects:
          app: {{budget: {{daily_usd: 1, action: block}}}}
    """)
    )
    (tmp_path / "usage.duckdb.policies.sqlite").write_bytes(b"not a database " * 1000)
    done = subprocess.run(
        [sys.executable, "-m", "voicegateway.cli", "budgets", "--config", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "policy state" in line]
    # the file and the fix: move it aside, and the next ingest rebuilds it from the ledger
    assert errors and "usage.duckdb.policies.sqlite" in errors[-1] and "mv " in errors[-1]
