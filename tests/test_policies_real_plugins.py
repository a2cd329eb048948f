"""The issue's check for budgets: several job processes hammer one project with a small
``block`` budget through the real openai plugin against a local server; the recorded spend stays
within the limit (every call costs no more than its reserved estimate here), and every call the
budget admitted is in the ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from decimal import Decimal

import duckdb

JOB = textwrap.dedent("""
    import asyncio, sys
    from livekit.agents import llm
    import voicegateway
    from voicegateway import inference
    from voicegateway.policies.errors import BudgetExceeded

    voicegateway.configure(sys.argv[1])

    async def main():
        model = inference.LLM("openai/gpt-4o-mini")
        admitted = 0
        for _ in range(200):
            ctx = llm.ChatContext.empty()
            ctx.add_message(role="user", content="book a table")
            try:
                stream = model.chat(chat_ctx=ctx)
            except BudgetExceeded:
                break
            async with stream:
                async for _ in stream:
                    pass
            admitted += 1
        print(admitted)

    asyncio.run(main())
""")


def test_processes_racing_a_block_budget_stay_within_it(tmp_path, openai_server):
    # 7 prompt tokens is the admission estimate for this context: each call costs $0.01401
    # under the negotiated rate below and reserves $0.022192 (4096 output tokens at most)
    openai_server.prompt_tokens, openai_server.completion_tokens = 7, 5
    db = tmp_path / "usage.duckdb"
    config = tmp_path / "voicegw.yaml"
    config.write_text(
        textwrap.dedent(f"""
        default_project: app
        providers:
          openai: {{api_key: sk-test, base_url: "{openai_server.url}/v1"}}
        pricing:
          openai/gpt-4o-mini: {{input_mtok: 2000, output_mtok: 2}}
        projects:
          app:
            budget: {{daily_usd: 0.5, action: block}}
        storage: {{path: "{db}", flush_interval: 0.1}}
    """)
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    jobs = [
        subprocess.Popen(
            [sys.executable, "-c", JOB, str(config)], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    admitted = sum(int(job.communicate(timeout=120)[0].strip()) for job in jobs)
    assert all(job.returncode == 0 for job in jobs)

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "voicegateway.cli",
            "costs",
            "--config",
            str(config),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    assert row["requests"] == admitted == len(openai_server.requests_for("/v1/chat/completions"))
    assert Decimal(row["cost_usd"]) <= Decimal("0.5")
    # the budget was used, not refused early: at most one reservation per racing process is left
    assert Decimal("0.5") - Decimal(row["cost_usd"]) < 4 * Decimal("0.022192")
    with duckdb.connect(str(db), read_only=True) as con:
        (distinct,) = con.execute("SELECT count(DISTINCT request_id) FROM usage").fetchone()
    assert distinct == admitted
