"""The issue's check, end to end: several LiveKit-style job processes make real calls through
voicegateway.inference (the real openai plugin, against a local server), one is killed with
SIGKILL after its spool was flushed, and the ledger holds exactly one priced row per call."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from decimal import Decimal

import duckdb
import pytest

JOB = textwrap.dedent("""
    import asyncio, sys, time
    from livekit.agents import llm
    import voicegateway
    from voicegateway import inference

    calls, then = int(sys.argv[1]), sys.argv[2]
    gateway = voicegateway.configure(sys.argv[3])

    async def main():
        model = inference.LLM("openai/gpt-4o-mini")
        ctx = llm.ChatContext.empty()
        ctx.add_message(role="user", content="book a table")
        for _ in range(calls):
            async with model.chat(chat_ctx=ctx) as stream:
                async for _ in stream:
                    pass

    asyncio.run(main())
    if then == "linger":  # a worker that is killed after its last flush
        time.sleep(3 * gateway.config.storage.flush_interval)
        print("flushed", flush=True)
        time.sleep(60)
""")


def costs_by_model(config, env) -> list[dict]:
    """``voicegw costs --by model --format json``, as a user runs it."""
    command = [
        sys.executable,
        "-m",
        "voicegateway.cli",
        "costs",
        "--config",
        str(config),
        "--by",
        "model",
        "--format",
        "json",
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_job_processes_leave_exactly_one_priced_row_per_call(tmp_path, openai_server):
    openai_server.prompt_tokens, openai_server.cached_tokens = 120, 100
    openai_server.completion_tokens = 9
    db = tmp_path / "usage.duckdb"
    config = tmp_path / "voicegw.yaml"
    config.write_text(
        textwrap.dedent(f"""
        providers:
          openai: {{api_key: sk-test, base_url: "{openai_server.url}/v1"}}
        storage: {{path: "{db}", flush_interval: 0.1}}
    """)
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    jobs = [
        subprocess.Popen([sys.executable, "-c", JOB, "120", "exit", str(config)], env=env)
        for _ in range(3)
    ]
    doomed = subprocess.Popen(
        [sys.executable, "-c", JOB, "80", "linger", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    # the CLI answers while jobs are writing
    costs_by_model(config, env)
    assert doomed.stdout.readline().strip() == "flushed"
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    assert [job.wait(timeout=120) for job in jobs] == [0, 0, 0]

    [row] = costs_by_model(config, env)
    calls = 3 * 120 + 80
    assert len(openai_server.requests_for("/v1/chat/completions")) == calls
    assert row["requests"] == calls
    assert row["input_tokens"] == 120 * calls
    with duckdb.connect(str(db), read_only=True) as con:
        total, distinct, cost, sources = con.execute(
            "SELECT count(*), count(DISTINCT request_id), sum(cost_usd), "
            "list(DISTINCT price_source) FROM usage"
        ).fetchone()
    assert total == distinct == calls
    assert sources == ["catalog"]
    from voice_prices import Usage, calc_price

    one = calc_price(
        Usage(input_tokens=120, cache_read_tokens=100, output_tokens=9),
        "gpt-4o-mini",
        provider_id="openai",
    ).total_price
    assert Decimal(cost) == one * calls
    assert not list((tmp_path / "usage.duckdb.spool").glob("*.jsonl"))  # all ingested
