"""The issue's check for ``voicegw reconcile``, end to end, with the generic export format.

Three days of usage are recorded through real calls: the real Deepgram STT (batch
transcription) and OpenAI LLM plugin classes through ``voicegateway.inference``, against the
testkit's local servers, metered, priced and spooled by the real chain, then ingested by the
CLI. The export files are written from what the fake servers billed (the seconds of the audio
the Deepgram server received, the tokens the OpenAI server reported), priced at the provider's list
price with voice-prices. ``voicegw reconcile`` runs as a user runs it, in a subprocess.

The one thing not real is the calendar: the calls all happen today, so a middleware registered
through the real ``register_middlewares`` hook stamps each day's records with noon (UTC) of the
day being seeded, after pricing and before recording, as if the calls had run that day
(``voicegateway_testkit.ledger_days``).
"""

from __future__ import annotations

import csv
import datetime
import json
import subprocess
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
from voice_prices import Usage, calc_price

from voicegateway import inference
from voicegateway.config import load_config
from voicegateway.pricing import rates_for
from voicegateway_testkit.audio import pcm_duration
from voicegateway_testkit.conformance import NO_RETRY, drive_llm, speech
from voicegateway_testkit.ledger_days import record_days
from voicegateway_testkit.ledger_days import voicegw_reconcile as reconcile

from .conftest import DEEPGRAM_KEY, OPENAI_KEY

DAYS = [datetime.date(2026, 11, 2), datetime.date(2026, 11, 3), datetime.date(2026, 11, 4)]
PLAN = {  # day: (seconds of speech per STT call, STT calls, chats, prompt, cached, completion)
    DAYS[0]: (2.0, 2, 3, 1200, 1000, 9),
    DAYS[1]: (3.0, 1, 2, 800, 0, 25),
    DAYS[2]: (1.5, 3, 4, 2000, 1024, 40),
}
FIELDS = ["provider", "model", "day", "leg", "audio_seconds", "input_tokens", "cached_tokens"]
FIELDS += ["output_tokens", "cost_usd"]


WAV_HEADER = 44
"""Bytes of the RIFF header ``rtc.AudioFrame.to_wav_bytes`` (Python's ``wave``) writes."""


def billed_seconds(request) -> Decimal:
    """What the Deepgram server billed for one batch transcription: the audio of the WAV it
    received (``metadata.duration``), 16 kHz mono as ``speech()`` makes it."""
    seconds = pcm_duration(request.body_size - WAV_HEADER, sample_rate=16000)
    return Decimal(repr(round(seconds, 6)))


@pytest.fixture
async def seeded(tmp_path, use_config, openai_server, deepgram_server, monkeypatch, lk_http):
    """The ledger after three days of calls, the config naming it, and the export lines the
    providers would send for those days (generic format, as dicts of text)."""
    monkeypatch.setenv("VOICEGW_DISABLE_PLUGINS", "anthropic")
    gateway = use_config(f"""
        default_project: app
        providers:
          openai: {{api_key: {OPENAI_KEY}, base_url: "{openai_server.url}/v1"}}
          deepgram: {{api_key: {DEEPGRAM_KEY}, base_url: "{deepgram_server.url}/v1"}}
        storage: {{path: "{tmp_path / "usage.duckdb"}", flush_interval: 0.05}}
    """)
    clock = record_days(gateway, DAYS[0])
    lines = []
    for day, (seconds, stt_calls, chats, prompt, cached, completion) in PLAN.items():
        clock.day = day
        openai_server.prompt_tokens, openai_server.cached_tokens = prompt, cached
        openai_server.completion_tokens = completion
        heard_before = len(deepgram_server.requests_for("/v1/listen"))
        chats_before = len(openai_server.requests_for("/v1/chat/completions"))
        listener = inference.STT("deepgram/nova-3")
        for _ in range(stt_calls):
            await listener.recognize(speech(seconds), conn_options=NO_RETRY)
        brain = inference.LLM("openai/gpt-4o-mini")
        for _ in range(chats):
            await drive_llm(brain, "A table for two, please.")
        streams = deepgram_server.requests_for("/v1/listen")[heard_before:]
        audio = sum((billed_seconds(r) for r in streams), Decimal(0))
        chats_made = len(openai_server.requests_for("/v1/chat/completions")) - chats_before
        assert (len(streams), chats_made) == (stt_calls, chats)
        stt_cost = calc_price(Usage(audio_input_seconds=audio), "nova-3", provider_id="deepgram")
        llm = Usage(
            input_tokens=prompt * chats,
            cache_read_tokens=cached * chats,
            output_tokens=completion * chats,
        )
        llm_cost = calc_price(llm, "gpt-4o-mini", provider_id="openai")
        lines.append(
            {"provider": "deepgram", "model": "nova-3", "day": str(day), "leg": "stt"}
            | {"audio_seconds": str(audio), "cost_usd": str(stt_cost.total_price)}
        )
        lines.append(
            {"provider": "openai", "model": "gpt-4o-mini", "day": str(day), "leg": "llm"}
            | {"input_tokens": str(prompt * chats), "cached_tokens": str(cached * chats)}
            | {"output_tokens": str(completion * chats), "cost_usd": str(llm_cost.total_price)}
        )
    gateway.spooler.flush()
    yield tmp_path / "voicegw.yaml", lines


def write_csv(path: Path, lines: list[dict]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        writer.writerows(lines)
    return path


def rows(done: subprocess.CompletedProcess) -> dict[tuple[str, str], dict]:
    return {(r["leg"], r["day"]): r for r in json.loads(done.stdout)["rows"]}


def find(lines: list[dict], leg: str, day: datetime.date) -> dict:
    return next(line for line in lines if line["leg"] == leg and line["day"] == str(day))


async def test_exact_agreement_exits_0_in_csv_and_json(seeded, tmp_path):
    config, lines = seeded
    export = write_csv(tmp_path / "usage.csv", lines)
    done = reconcile(config, str(export), "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    found = rows(done)
    assert len(found) == 6 and {r["status"] for r in found.values()} == {"ok"}
    stt = found[("stt", str(DAYS[0]))]
    assert stt["ours"]["units"]["audio_seconds"] == stt["theirs"]["units"]["audio_seconds"]
    assert Decimal(stt["ours"]["units"]["audio_seconds"]) == 4  # two calls of 2 s
    totals = json.loads(done.stdout)["totals"]
    assert totals["rows"] == 6 and Decimal(totals["difference_usd"]) == 0

    as_json = tmp_path / "usage.json"
    as_json.write_text(json.dumps(lines))
    table = reconcile(config, str(as_json))
    assert table.returncode == 0, table.stdout + table.stderr
    assert "0 of 6 rows flagged" in table.stdout


async def test_a_missing_day_is_coverage(seeded, tmp_path):
    config, lines = seeded
    export = write_csv(tmp_path / "usage.csv", [x for x in lines if x["day"] != str(DAYS[1])])
    done = reconcile(config, str(export), "--format", "json")
    assert done.returncode == 1, done.stderr
    found = rows(done)
    for leg in ("stt", "llm"):
        missing = found[(leg, str(DAYS[1]))]
        assert (missing["status"], missing["cause"], missing["theirs"]) == (
            "flagged",
            "coverage",
            None,
        )
        assert "no record of these calls" in missing["detail"]
    assert [r["status"] for k, r in found.items() if k[1] != str(DAYS[1])] == ["ok"] * 4


async def test_a_units_gap_names_the_unit(seeded, tmp_path):
    config, lines = seeded
    find(lines, "llm", DAYS[2])["input_tokens"] = str(2000 * 4 + 200)  # 2.5 % more than we saw
    done = reconcile(config, str(write_csv(tmp_path / "usage.csv", lines)), "--format", "json")
    assert done.returncode == 1, done.stderr
    gap = rows(done)[("llm", str(DAYS[2]))]
    assert (gap["status"], gap["cause"]) == ("flagged", "units")
    assert gap["detail"].startswith("input_tokens: ours 8000, theirs 8200")
    assert gap["difference"]["input_tokens"] == "-200"
    assert sum(r["status"] == "flagged" for r in rows(done).values()) == 1


async def test_a_units_gap_within_tolerance_passes(seeded, tmp_path):
    config, lines = seeded
    find(lines, "llm", DAYS[2])["input_tokens"] = str(2000 * 4 + 80)  # 0.99 %, under 1 %
    export = write_csv(tmp_path / "usage.csv", lines)
    assert reconcile(config, str(export)).returncode == 0
    assert reconcile(config, str(export), "--units-tolerance", "0.005").returncode == 1


async def test_a_rate_change_is_flagged_and_an_override_proposed(seeded, tmp_path):
    config, lines = seeded
    contract = Decimal("0.0036")  # USD per minute, below the catalog's list price
    for line in lines:
        if line["leg"] == "stt":
            line["cost_usd"] = str(Decimal(line["audio_seconds"]) / 60 * contract)
    proposal = tmp_path / "proposal.yaml"
    export = write_csv(tmp_path / "usage.csv", lines)
    done = reconcile(config, str(export), "--format", "json", "--write-overrides", str(proposal))
    assert done.returncode == 1, done.stderr
    found = rows(done)
    for day in DAYS:
        row = found[("stt", str(day))]
        assert (row["status"], row["cause"]) == ("flagged", "rate")
        assert "theirs $0.0036/min" in row["detail"] and "priced by catalog" in row["detail"]
        assert found[("llm", str(day))]["status"] == "ok"
    text = proposal.read_text()
    assert "deepgram/nova-3: {input_audio_kseconds: 0.06}" in text
    assert "openai" not in text

    # the proposal, pasted into voicegw.yaml, prices what we recorded at what was billed
    pasted = tmp_path / "with-override.yaml"
    pasted.write_text(config.read_text() + text)
    overrides = load_config(pasted).pricing
    rates = rates_for("deepgram", "nova-3", "stt", catalog="deepgram", overrides=overrides)
    for day in DAYS:
        line = find(lines, "stt", day)
        recorded = Decimal(found[("stt", str(day))]["ours"]["units"]["audio_seconds"])
        assert rates.cost({"audio_seconds": recorded}) == Decimal(line["cost_usd"])


async def test_spend_on_the_next_day_is_timing(seeded, tmp_path):
    config, lines = seeded
    first, second = find(lines, "llm", DAYS[0]), find(lines, "llm", DAYS[1])
    for unit in ("input_tokens", "cached_tokens", "output_tokens", "cost_usd"):
        second[unit] = str(Decimal(second[unit]) + Decimal(first[unit]))
    lines.remove(first)
    done = reconcile(config, str(write_csv(tmp_path / "usage.csv", lines)), "--format", "json")
    assert done.returncode == 1, done.stderr
    found = rows(done)
    for day in DAYS[:2]:
        row = found[("llm", str(day))]
        assert (row["status"], row["cause"]) == ("flagged", "timing"), row
    assert "neighbouring day" in found[("llm", str(DAYS[0]))]["detail"]
    assert found[("llm", str(DAYS[2]))]["status"] == "ok"


async def test_a_malformed_row_exits_2_naming_file_and_row(seeded, tmp_path):
    config, lines = seeded
    find(lines, "llm", DAYS[1])["input_tokens"] = "16OO"  # letters O for zeros
    export = write_csv(tmp_path / "usage.csv", lines)
    row = 1 + next(i for i, text in enumerate(export.read_text().splitlines()) if "16OO" in text)
    done = reconcile(config, str(export))
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"usage.csv: row {row}, column 'input_tokens': '16OO' is not a number" in done.stderr


async def test_an_unknown_file_exits_2_listing_the_formats(seeded, tmp_path):
    config, _ = seeded
    other = tmp_path / "notes.csv"
    other.write_text(
        textwrap.dedent("""\
        when,what
        2026-11-02,lunch
    """)
    )
    done = reconcile(config, str(other))
    assert done.returncode == 2 and done.stdout == ""
    assert f"no reader recognises {other}; known formats:" in done.stderr
    assert "generic" in done.stderr
