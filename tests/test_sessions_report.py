"""``voicegw sessions`` and ``voicegw costs --by session`` over a real ledger filled by real
AgentSession turns with no room (console mode, tests), run as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from livekit.agents import llm

import voicegateway
from voicegateway import inference
from voicegateway.metering.sessions import SESSION_ATTR
from voicegateway_testkit.fakes import voice_turn


def voicegw(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEGW_")}
    done = subprocess.run(
        [sys.executable, "-m", "voicegateway.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def priced(use_config, tmp_path) -> voicegateway.Gateway:
    """The fake provider, priced by overrides so every leg has a cost; the ledger in tmp_path."""
    return use_config(f"""
        default_project: app
        pricing:
          fake/fake-stt: {{audio_minute: 0.6}}
          fake/fake-llm: {{input_mtok: 1000, output_mtok: 2000}}
          fake/fake-tts: {{mchars: 30000}}
        storage: {{path: "{tmp_path / "usage.duckdb"}"}}
    """)


async def _turn(replies: int):
    """One spoken turn; a longer reply costs more (LLM output, TTS characters)."""
    reply = " ".join(["Sure."] * replies)
    turn = await voice_turn(
        inference.STT("fake"),
        inference.LLM("fake", extra_kwargs={"reply": reply}),
        inference.TTS("fake"),
    )
    return getattr(turn.session, SESSION_ATTR)


async def test_sessions_lists_each_conversation_with_cost_per_leg_and_minute(priced, tmp_path):
    cheap, dear = await _turn(1), await _turn(8)
    await asyncio.sleep(0.05)
    priced.spooler.close()
    config = str(tmp_path / "voicegw.yaml")

    rows = json.loads(
        voicegw("sessions", "--config", config, "--format", "json", cwd=tmp_path).stdout
    )
    assert [r["session_id"] for r in rows] == [dear, cheap]  # latest first
    for row in rows:
        legs = [Decimal(row[f"{m}_usd"]) for m in ("stt", "llm", "tts")]
        assert all(leg > 0 for leg in legs) and sum(legs) == Decimal(row["cost_usd"])
        assert row["calls"] >= 3 and Decimal(str(row["duration_s"])) > 0 and row["unpriced"] == 0
        per_minute = Decimal(row["cost_usd"]) * 60 / Decimal(str(row["duration_s"]))
        assert abs(Decimal(row["usd_per_minute"]) / per_minute - 1) < Decimal("1e-6")
        assert row["project"] == "app" and row["room"] is None

    by_cost = voicegw(
        "sessions", "--config", config, "--sort", "cost", "--format", "csv", cwd=tmp_path
    )
    lines = by_cost.stdout.splitlines()
    assert lines[0].split(",")[:6] == [
        "session_id",
        "project",
        "room",
        "started",
        "duration_s",
        "calls",
    ]
    costs = {r["session_id"]: Decimal(r["cost_usd"]) for r in rows}
    assert [line.split(",")[0] for line in lines[1:]] == sorted(costs, key=costs.get, reverse=True)

    table = voicegw("sessions", "--config", config, cwd=tmp_path).stdout
    header = re.split(r"\s{2,}", table.splitlines()[0])  # columns are two spaces apart
    assert len(header) == len(rows[0]) - 2  # room and unpriced are empty in every row
    assert all(session in table for session in (cheap, dear))

    by_session = json.loads(
        voicegw(
            "costs", "--config", config, "--by", "session", "--format", "json", cwd=tmp_path
        ).stdout
    )
    assert {r["session"]: Decimal(r["cost_usd"]) for r in by_session} == costs


def test_an_empty_report_names_the_ledger_it_read(tmp_path):
    (tmp_path / "voicegw.yaml").write_text("storage: {path: data/usage.duckdb}\n")
    for command in (["sessions"], ["costs"], ["logs"], ["latency"]):
        out = voicegw(*command, cwd=tmp_path).stdout
        assert (
            out.strip()
            == f"no usage recorded for this selection in {tmp_path / 'data' / 'usage.duckdb'}"
        )


async def test_a_relative_storage_path_is_relative_to_the_config_file(use_config, tmp_path):
    """``voicegw sessions --config other/voicegw.yaml`` from elsewhere reads the ledger the agent
    wrote next to that file, and creates nothing in the working directory."""
    other, elsewhere = tmp_path / "other", tmp_path / "elsewhere"
    other.mkdir(), elsewhere.mkdir()
    (other / "voicegw.yaml").write_text("storage: {path: data/usage.duckdb}\n")
    agent = voicegateway.configure(other / "voicegw.yaml")  # use_config resets it afterwards
    assert agent.config.storage.path == other / "data" / "usage.duckdb"
    with inference.session("call-9"):
        async with inference.LLM("fake").chat(chat_ctx=llm.ChatContext.empty()) as stream:
            async for _ in stream:
                pass
    agent.spooler.close()
    config = os.path.relpath(other / "voicegw.yaml", elsewhere)
    out = voicegw("sessions", "--config", config, "--format", "json", cwd=elsewhere).stdout
    assert [r["session_id"] for r in json.loads(out)] == ["call-9"]
    assert list(elsewhere.iterdir()) == []
