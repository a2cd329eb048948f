"""``voicegw reconcile`` against Cartesia's credit usage, end to end.

Two days of speech go through ``voicegateway.inference`` with the real
``livekit.plugins.cartesia.TTS`` against the testkit's CartesiaServer, with two Sonic models;
the chain meters, prices and spools them, and the records are stamped with the day being seeded
(``voicegateway_testkit.ledger_days``). The export is the body of ``GET
/usage/credits?interval=day`` written from the transcripts the server spoke each day, a credit a
character. It names no model, so each day's credits are compared with every Cartesia model's
records of that day together. ``voicegw reconcile`` runs in a subprocess, as a user runs it.

The calls use ``synthesize()`` (``/tts/bytes``), whose request carries exactly the text. The
websocket path pads the transcript with spaces (see test_cartesia_tts.py), and whether Cartesia
charges credits for them is not something this fake server can tell.
"""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path

from voicegateway import inference
from voicegateway_testkit.conformance import drive_tts, wait_ended
from voicegateway_testkit.ledger_days import record_days, voicegw_reconcile

DAYS = [datetime.date(2026, 11, 2), datetime.date(2026, 11, 3)]
VOICE_ID = "a0e99841-438c-4a64-b679-ae501e7d6091"
PLAN = {  # day: [(model, text), ...]
    DAYS[0]: [("sonic-3", "Your table for two is booked."), ("sonic-3", "See you at seven.")],
    DAYS[1]: [("sonic-3", "Thank you for calling."), ("sonic-2", "Goodbye, and enjoy your meal.")],
}


async def seed(gateway, server) -> list[int]:
    """Two days of calls; the characters the server spoke each day, which Cartesia bills as
    credits."""
    clock = record_days(gateway, DAYS[0])
    spoken = []
    for day, calls in PLAN.items():
        clock.day = day
        before = len(server.transcripts())
        for model, text in calls:
            voice = inference.TTS(f"cartesia/{model}:{VOICE_ID}")
            assert await drive_tts(voice, text) > 0
            await wait_ended(voice)
        assert [r.json["model_id"] for r in server.requests[-len(calls) :]] == [m for m, _ in calls]
        spoken.append(sum(len(t) for t in server.transcripts()[before:]))
    gateway.spooler.flush()
    return spoken


def credit_usage(path: Path, credits: list) -> Path:
    """The response body: one bucket per UTC day, in order."""
    data = []
    for day, amount in zip(DAYS, credits, strict=True):
        start = datetime.datetime.combine(day, datetime.time(), datetime.UTC)
        end = start + datetime.timedelta(days=1)
        stamps = [t.isoformat(timespec="milliseconds").replace("+00:00", "Z") for t in (start, end)]
        data.append({"start_ts": stamps[0], "end_ts": stamps[1], "credits": amount})
    path.write_text(json.dumps({"data": data}))
    return path


def reconcile(tmp_path: Path, credits: list, *args) -> tuple[int, dict[str, dict]]:
    export = credit_usage(tmp_path / "credits.json", credits)
    done = voicegw_reconcile(tmp_path / "voicegw.yaml", str(export), *args, "--format", "json")
    assert done.returncode in (0, 1), done.stderr
    rows = json.loads(done.stdout)["rows"]
    assert {(r["provider"], r["model"], r["leg"]) for r in rows} == {("cartesia", "*", "tts")}
    return done.returncode, {r["day"]: r for r in rows}


async def test_exact_agreement_exits_0(gateway, cartesia_server, lk_http, tmp_path):
    credits = await seed(gateway, cartesia_server)
    code, rows = reconcile(tmp_path, credits)
    assert code == 0, rows
    assert set(rows) == {str(day) for day in DAYS}
    assert {r["status"] for r in rows.values()} == {"ok"}
    both_models = rows[str(DAYS[1])]  # sonic-3 and sonic-2 records against one bucket
    assert both_models["theirs"]["units"]["characters"] == "51"
    assert both_models["ours"]["units"]["characters"] == "51"
    assert both_models["ours"]["requests"] == 2
    assert (
        Decimal(both_models["ours"]["cost_usd"]) > 0 and both_models["theirs"]["cost_usd"] is None
    )


async def test_a_missing_day_is_coverage(gateway, cartesia_server, lk_http, tmp_path):
    credits = await seed(gateway, cartesia_server)
    credits[1] = 0  # Cartesia charged nothing on the second day
    # the export's last day billed nothing: the reader keeps the day, so it is still compared
    code, rows = reconcile(tmp_path, credits)
    assert code == 1
    missing = rows[str(DAYS[1])]
    assert (missing["status"], missing["cause"]) == ("flagged", "coverage")
    assert all(v in (None, "0") for v in missing["theirs"]["units"].values())
    assert rows[str(DAYS[0])]["status"] == "ok"


async def test_a_units_gap_is_units(gateway, cartesia_server, lk_http, tmp_path):
    credits = await seed(gateway, cartesia_server)
    credits[0] += 3  # 6.5 % more credits than characters spoken
    code, rows = reconcile(tmp_path, credits)
    assert code == 1
    gap = rows[str(DAYS[0])]
    assert (gap["status"], gap["cause"]) == ("flagged", "units")
    assert gap["detail"].startswith("characters: ours 46, theirs 49")
    assert rows[str(DAYS[1])]["status"] == "ok"


async def test_a_malformed_bucket_exits_2_naming_it(gateway, cartesia_server, lk_http, tmp_path):
    credits = await seed(gateway, cartesia_server)
    credits[1] = str(credits[1])  # a string, not the number Cartesia sends
    export = credit_usage(tmp_path / "credits.json", credits)
    done = voicegw_reconcile(tmp_path / "voicegw.yaml", str(export))
    assert done.returncode == 2 and done.stdout == ""
    assert f"{export.name}: data[1], column 'credits': " in done.stderr
