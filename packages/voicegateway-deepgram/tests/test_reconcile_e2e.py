"""``voicegw reconcile`` against Deepgram's usage and billing breakdowns, end to end.

Two days of calls go through ``voicegateway.inference`` with the real
``livekit.plugins.deepgram`` classes against the testkit's DeepgramServer: batch transcription
(``recognize()``, ``POST /v1/listen``) with nova-3 and Aura-2 speech (``POST /v1/speak``). The
chain meters, prices and spools them; the records are stamped with the day being seeded
(``voicegateway_testkit.ledger_days``). The exports are written in Deepgram's format from what
the server billed: the audio of each WAV it received (``hours``), the characters of each text it
spoke (``tts_characters``), and that audio at the list price (``dollars``). ``voicegw
reconcile`` runs in a subprocess, as a user runs it.

Streaming transcription is billed for the connection's lifetime; that its records carry the
server's bill is checked by test_streaming_bill.py and the conformance test.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from livekit.plugins import deepgram as lk_deepgram
from voice_prices import Usage, calc_price

import voicegateway
from voicegateway import gateway as gateway_module
from voicegateway import inference
from voicegateway_testkit.conformance import NO_RETRY, drive_tts, speech, wait_ended
from voicegateway_testkit.ledger_days import record_days, voicegw_reconcile
from voicegateway_testkit.servers import DeepgramServer

KEY = "dg-reconcile-0123456789abcdef"
ACCESSOR = "8f3c2d1e-5b6a-4c7d-9e0f-1a2b3c4d5e6f"  # the API key's id, as the grouping names it
DAYS = [datetime.date(2026, 11, 2), datetime.date(2026, 11, 3)]
PLAN = {  # day: (seconds of each clip transcribed, texts spoken)
    DAYS[0]: ((3.6, 1.8), ("Your table for two is booked.", "See you at seven tonight.")),
    DAYS[1]: ((7.2,), ("Thank you for calling the Blue Door.",)),
}
WAV_HEADER = 44  # the RIFF header of the WAV ``recognize()`` uploads
BYTES_PER_SECOND = 2 * 16000  # 16-bit mono at 16 kHz, as ``speech()`` makes it


@pytest.fixture
def config(tmp_path, deepgram_server: DeepgramServer) -> Iterator[Path]:
    deepgram_server.api_key = KEY
    path = tmp_path / "voicegw.yaml"
    path.write_text(
        json.dumps(
            {
                "default_project": "app",
                "providers": {
                    "deepgram": {"api_key": KEY, "base_url": f"{deepgram_server.url}/v1"}
                },
                "storage": {"path": str(tmp_path / "usage.duckdb")},
            }
        )
    )
    yield path
    gateway_module._default = None


@pytest.fixture
async def billed(config, deepgram_server, lk_http) -> dict[datetime.date, dict[str, Decimal]]:
    """Records for two days of calls, in the ledger ``config`` names; returns what the server
    billed per day: ``audio_seconds`` and ``characters``."""
    gateway = voicegateway.configure(config)
    clock = record_days(gateway, DAYS[0])
    bill = {}
    for day, (clips, texts) in PLAN.items():
        clock.day = day
        heard = len(deepgram_server.requests_for("/v1/listen"))
        spoke = len(deepgram_server.requests_for("/v1/speak"))
        listener = inference.STT("deepgram/nova-3")
        assert isinstance(listener.plugin, lk_deepgram.STT)
        for seconds in clips:
            await listener.recognize(speech(seconds), conn_options=NO_RETRY)
        voice = inference.TTS("deepgram/aura-2:andromeda-en")
        for text in texts:
            assert await drive_tts(voice, text) > 0
        await wait_ended(voice)
        uploads = deepgram_server.requests_for("/v1/listen")[heard:]
        spoken = deepgram_server.requests_for("/v1/speak")[spoke:]
        assert (len(uploads), len(spoken)) == (len(clips), len(texts))
        bill[day] = {
            "audio_seconds": sum(
                (Decimal(r.body_size - WAV_HEADER) / BYTES_PER_SECOND for r in uploads),
                Decimal(0),
            ),
            "characters": Decimal(sum(len(r.json["text"]) for r in spoken)),
        }
    gateway.spooler.flush()
    return bill


def usage_breakdown(path: Path, bill: dict) -> Path:
    """``GET /v1/projects/{id}/usage/breakdown?grouping=models,endpoint,accessor``, daily."""
    results = []
    for day, units in bill.items():
        clips, texts = PLAN[day]
        hours = units["audio_seconds"] / 3600
        results.append(_usage(day, "listen", "Nova-3", len(clips), hours=hours))
        voice = "aura-2-andromeda-en"
        results.append(_usage(day, "speak", voice, len(texts), characters=units["characters"]))
    return _write(path, bill, results)


def _usage(day, endpoint, model, requests, *, hours=0, characters=0) -> dict:
    """One result of the usage breakdown, as Deepgram's documentation shows it."""
    grouping = {"start": str(day), "end": str(day), "accessor": ACCESSOR, "endpoint": endpoint}
    grouping |= {"feature_set": None, "models": [model], "method": None, "tags": None}
    return {
        "hours": hours,
        "total_hours": hours,
        "agent_hours": 0,
        "tokens_in": 0,
        "tokens_out": 0,
        "tts_characters": characters,
        "requests": requests,
        "grouping": grouping | {"deployment": None},
    }


def billing_breakdown(path: Path, bill: dict, *, per_minute: Decimal | None = None) -> Path:
    """``GET /v1/projects/{id}/billing/breakdown?grouping=line_item``, daily: the transcription
    line items, at the list price or at ``per_minute``."""
    results = []
    for day, units in bill.items():
        seconds = units["audio_seconds"]
        if per_minute is None:
            dollars = calc_price(
                Usage(audio_input_seconds=seconds), "nova-3", provider_id="deepgram"
            ).total_price
        else:
            dollars = seconds / 60 * per_minute
        grouping = {"start": str(day), "end": str(day), "accessor": None, "deployment": None}
        # the docs show only "streaming::nova-3"; the reader takes the model after "::"
        grouping |= {"line_item": "async::nova-3", "tags": None}
        results.append({"dollars": dollars, "grouping": grouping})
    return _write(path, bill, results)


def _write(path: Path, bill: dict, results: list[dict]) -> Path:
    days = sorted(bill)
    doc = {"start": str(days[0]), "end": str(days[-1]), "resolution": {"units": "day", "amount": 1}}
    # amounts as JSON numbers; each float's repr is the decimal's exact text here
    path.write_text(json.dumps(doc | {"results": results}, default=float, indent=2))
    return path


def reconcile(config: Path, *args) -> tuple[int, dict[tuple[str, str], dict]]:
    done = voicegw_reconcile(config, *map(str, args), "--format", "json")
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, {(r["leg"], r["day"]): r for r in json.loads(done.stdout)["rows"]}


async def test_exact_agreement_exits_0(billed, config, tmp_path):
    usage = usage_breakdown(tmp_path / "usage.json", billed)
    cost = billing_breakdown(tmp_path / "billing.json", billed)
    code, rows = reconcile(config, usage, cost)
    assert code == 0, rows
    assert set(rows) == {(leg, str(day)) for leg in ("stt", "tts") for day in DAYS}
    assert {r["status"] for r in rows.values()} == {"ok"}
    stt = rows[("stt", str(DAYS[0]))]
    assert stt["model"] == "nova-3"
    assert Decimal(stt["ours"]["units"]["audio_seconds"]) == Decimal("5.4")  # 3.6 s + 1.8 s
    assert Decimal(stt["theirs"]["units"]["audio_seconds"]) == Decimal("5.4")
    assert Decimal(stt["ours"]["cost_usd"]) == Decimal(stt["theirs"]["cost_usd"]) > 0
    tts = rows[("tts", str(DAYS[1]))]
    assert tts["model"] == "aura-2"
    assert tts["ours"]["units"]["characters"] == tts["theirs"]["units"]["characters"] == "36"


async def test_a_missing_day_is_coverage(billed, config, tmp_path):
    first = {DAYS[0]: billed[DAYS[0]]}
    usage = usage_breakdown(tmp_path / "usage.json", first)
    cost = billing_breakdown(tmp_path / "billing.json", first)
    period = ("--since", DAYS[0], "--until", DAYS[1] + datetime.timedelta(days=1))
    code, rows = reconcile(config, usage, cost, *period)
    assert code == 1
    for leg in ("stt", "tts"):
        missing = rows[(leg, str(DAYS[1]))]
        assert (missing["status"], missing["cause"], missing["theirs"]) == (
            "flagged",
            "coverage",
            None,
        )
        assert rows[(leg, str(DAYS[0]))]["status"] == "ok"


async def test_a_units_gap_is_units(billed, config, tmp_path):
    billed[DAYS[1]]["characters"] += 2  # 5.6 % more than the server spoke: a metering gap
    usage = usage_breakdown(tmp_path / "usage.json", billed)
    cost = billing_breakdown(tmp_path / "billing.json", billed)
    code, rows = reconcile(config, usage, cost)
    assert code == 1
    gap = rows[("tts", str(DAYS[1]))]
    assert (gap["status"], gap["cause"]) == ("flagged", "units")
    assert gap["detail"].startswith("characters: ours 36, theirs 38")
    assert [k for k, r in rows.items() if r["status"] == "flagged"] == [("tts", str(DAYS[1]))]


async def test_a_rate_change_is_rate(billed, config, tmp_path):
    usage = usage_breakdown(tmp_path / "usage.json", billed)
    contract = Decimal("0.0036")  # USD per minute, below the list price
    cost = billing_breakdown(tmp_path / "billing.json", billed, per_minute=contract)
    code, rows = reconcile(config, usage, cost)
    assert code == 1
    for day in DAYS:
        row = rows[("stt", str(day))]
        assert (row["status"], row["cause"]) == ("flagged", "rate"), row
        assert row["ours"]["units"] == row["theirs"]["units"]
        assert "theirs $0.0036/min" in row["detail"] and "priced by catalog" in row["detail"]
        assert rows[("tts", str(day))]["status"] == "ok"


async def test_a_malformed_breakdown_exits_2_naming_the_row(billed, config, tmp_path):
    usage = usage_breakdown(tmp_path / "usage.json", billed)
    doc = json.loads(usage.read_text())
    doc["results"][2]["hours"] = "0.002"  # a string, not the number Deepgram sends
    usage.write_text(json.dumps(doc))
    done = voicegw_reconcile(config, str(usage))
    assert done.returncode == 2 and done.stdout == ""
    assert f"{usage.name}: results[2], column 'hours': " in done.stderr
