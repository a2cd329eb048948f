"""The issue's checks for budgets, with real job processes and the real openai plugin against a
local server:

- processes keeping calls in flight spend a small ``block`` budget to within one call of its limit
  and never past the stated bound (the limit plus the calls in flight when it was reached), and
  every refusal is a ``refused`` record in the ledger;
- with the policy state lost while another process holds the ledger open (a plain DuckDB
  connection), ``block`` refuses (fails closed) and the agents' event loops are never held.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from decimal import Decimal

import duckdb
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

JOB = textwrap.dedent("""
    import asyncio, json, sys
    from livekit.agents import llm
    import voicegateway
    from voicegateway import inference
    from voicegateway.policies.errors import Refused
    from voicegateway_testkit.loop import measure_loop_gaps

    voicegateway.configure(sys.argv[1])
    IN_FLIGHT = int(sys.argv[2])

    async def one(model):
        ctx = llm.ChatContext.empty()
        ctx.add_message(role="user", content="book a table")
        async with model.chat(chat_ctx=ctx) as stream:
            async for _ in stream:
                pass

    async def worker(model, counts):
        for _ in range(500):
            try:
                await one(model)
            except Refused as exc:
                counts["refused"].append(type(exc).__name__)
                return
            counts["admitted"] += 1

    async def main():
        model = inference.LLM("openai/gpt-4o-mini")
        counts = {"admitted": 0, "refused": []}
        async def calls():
            await asyncio.gather(*(worker(model, counts) for _ in range(IN_FLIGHT)))
        gaps = await measure_loop_gaps(calls(), tick=0.005)
        duckdb = "duckdb" in sys.modules  # a job process never opens, or imports, the ledger
        print(json.dumps({**counts, "longest_gap": gaps.longest_gap, "duckdb": duckdb}))

    asyncio.run(main())
""")

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def _config(tmp_path, openai_server, limit: Decimal):
    db = tmp_path / "usage.duckdb"
    config = tmp_path / "voicegw.yaml"
    config.write_text(
        textwrap.dedent(f"""
        default_project: app
        providers:
          openai: {{api_key: sk-test, base_url: "{openai_server.url}/v1"}}
        pricing:
          openai/gpt-4o-mini: {{input_mtok: 1000, output_mtok: 800}}
        projects:
          app:
            budget: {{daily_usd: {limit}, action: block}}
        storage: {{path: "{db}", flush_interval: 0.1}}
    """)
    )
    return db, config


def _jobs(config, processes: int, in_flight: int) -> list[dict]:
    jobs = [
        subprocess.Popen(
            [sys.executable, "-c", JOB, str(config), str(in_flight)],
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    results = []
    for job in jobs:
        out, err = job.communicate(timeout=150)
        assert job.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _cli(config, *args: str) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-m", "voicegateway.cli", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_processes_with_calls_in_flight_spend_a_block_budget_within_the_bound(
    tmp_path, openai_server
):
    # each call costs exactly $0.011 under the negotiated rate (7 prompt, 5 output tokens)
    openai_server.prompt_tokens, openai_server.completion_tokens = 7, 5
    openai_server.fault("/v1/chat/completions", delay=0.05)  # calls stay in flight a while
    limit, call_cost, processes, in_flight = Decimal("0.20"), Decimal("0.011"), 6, 4
    db, config = _config(tmp_path, openai_server, limit)
    results = _jobs(config, processes, in_flight)
    admitted = sum(r["admitted"] for r in results)
    assert {name for r in results for name in r["refused"]} == {"BudgetExceeded"}
    assert not any(r["duckdb"] for r in results)

    done = subprocess.run(
        [sys.executable, "-m", "voicegateway.cli", "ingest", "--config", str(config)],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert done.returncode == 0, done.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        served, spent, distinct = con.execute(
            "SELECT count(*), sum(cost_usd), count(DISTINCT request_id) FROM usage "
            "WHERE status = 'ok'"
        ).fetchone()
        (refused,) = con.execute("SELECT count(*) FROM usage WHERE status = 'refused'").fetchone()
    assert served == admitted == distinct == len(openai_server.requests_for("/v1/chat/completions"))
    assert refused == processes * in_flight  # every refusal is in the ledger too
    [row] = _cli(config, "costs", "--format", "json")
    assert (row["requests"], row["refused"]) == (admitted, refused)  # refusals apart
    logged = _cli(config, "logs", "--status", "refused", "--format", "json", "--limit", "100")
    assert len(logged) == refused
    assert all(
        r["error_class"] == "BudgetExceeded" and "budget of $0.2 is used up" in r["reason"]
        for r in logged
    )
    assert spent >= limit - call_cost  # the budget is used up, not refused early
    assert spent <= limit + processes * in_flight * call_cost  # the stated bound


def test_lost_state_and_a_held_ledger_fail_closed_without_stalling_the_loop(
    tmp_path, openai_server
):
    openai_server.prompt_tokens, openai_server.completion_tokens = 7, 5
    db, config = _config(tmp_path, openai_server, Decimal("1.00"))
    first = _jobs(config, 1, 1)  # spend some, so the ledger has history
    assert first[0]["admitted"] > 0
    subprocess.run(
        [sys.executable, "-m", "voicegateway.cli", "ingest", "--config", str(config)],
        check=True,
        capture_output=True,
        env=ENV,
    )
    (tmp_path / "usage.duckdb.policies.sqlite").unlink()  # the policy state is lost
    with duckdb.connect(str(db)):  # another process holds the ledger open the whole time
        results = _jobs(config, 4, 2)
    for result in results:
        assert not result["duckdb"]
        assert result["admitted"] == 0  # block never admits what it cannot know
        assert set(result["refused"]) == {"BudgetUnknown"}
        assert result["longest_gap"] < 0.1  # the loop was never held (the probe ticks 5 ms)
