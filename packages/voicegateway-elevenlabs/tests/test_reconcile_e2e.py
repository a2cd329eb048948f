"""``voicegw reconcile`` against ElevenLabs' character usage, end to end.

Two days of speech go through ``voicegateway.inference`` with the real
``livekit.plugins.elevenlabs.TTS`` against the testkit's ElevenLabsServer, with two models; the
chain meters, prices and spools them, and the records are stamped with the day being seeded
(``voicegateway_testkit.ledger_days``). The export is the body of ``GET
/v1/usage/character-stats?breakdown_type=model&metric=tts_characters`` written from the text the
server received per model and day. ``voicegw reconcile`` runs in a subprocess, as a user runs it.

The calls use ``synthesize()``, whose request carries exactly the text. The websocket path pads
each context with spaces (see test_elevenlabs_tts.py), and whether ElevenLabs counts them is
not something this fake server can tell.
"""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path

from voicegateway import inference
from voicegateway_testkit.conformance import drive_tts, wait_ended
from voicegateway_testkit.ledger_days import record_days, voicegw_reconcile

from .conftest import VOICE

DAYS = [datetime.date(2026, 11, 2), datetime.date(2026, 11, 3)]
FLASH, MULTILINGUAL = "eleven_flash_v2_5", "eleven_multilingual_v2"
PLAN = {  # day: [(model, text), ...]
    DAYS[0]: [(FLASH, "Your table for two is booked."), (FLASH, "See you at seven tonight.")],
    DAYS[1]: [
        (FLASH, "Thank you for calling us."),
        (MULTILINGUAL, "Bonjour, votre table est prête."),
    ],
}
DAY_MS = 86_400_000


async def seed(gateway, server) -> dict[str, list[int]]:
    """Two days of calls; what the server received, per model, one count per day: the
    ``usage`` of the export."""
    clock = record_days(gateway, DAYS[0])
    usage = {FLASH: [0] * len(DAYS), MULTILINGUAL: [0] * len(DAYS)}
    for i, (day, calls) in enumerate(PLAN.items()):
        clock.day = day
        before = len(server.requests)
        for model, text in calls:
            voice = inference.TTS(f"elevenlabs/{model}:{VOICE}")
            assert await drive_tts(voice, text) > 0
            await wait_ended(voice)
        for request in server.requests[before:]:
            usage[request.json["model_id"]][i] += len(request.json["text"])
        assert sum(len(text) for _, text in calls) == sum(u[i] for u in usage.values())
    gateway.spooler.flush()
    return usage


def character_stats(path: Path, usage: dict[str, list[int]]) -> Path:
    """The response body, daily buckets from a UTC midnight, one series per model."""
    midnight = datetime.datetime.combine(DAYS[0], datetime.time(), datetime.UTC)
    start = int(midnight.timestamp()) * 1000
    times = [start + i * DAY_MS for i in range(len(DAYS))]
    path.write_text(json.dumps({"time": times, "usage": usage}))
    return path


def reconcile(tmp_path: Path, usage: dict, *args) -> tuple[int, dict[tuple, dict]]:
    export = character_stats(tmp_path / "character-stats.json", usage)
    done = voicegw_reconcile(tmp_path / "voicegw.yaml", str(export), *args, "--format", "json")
    assert done.returncode in (0, 1), done.stderr
    rows = json.loads(done.stdout)["rows"]
    return done.returncode, {(r["model"], r["day"]): r for r in rows}


async def test_exact_agreement_exits_0(gateway, elevenlabs_server, lk_http, tmp_path):
    usage = await seed(gateway, elevenlabs_server)
    code, rows = reconcile(tmp_path, usage)
    assert code == 0, rows
    assert set(rows) == {(FLASH, str(DAYS[0])), (FLASH, str(DAYS[1])), (MULTILINGUAL, str(DAYS[1]))}
    assert {(r["leg"], r["status"]) for r in rows.values()} == {("tts", "ok")}
    flash = rows[(FLASH, str(DAYS[0]))]
    assert flash["ours"]["units"]["characters"] == flash["theirs"]["units"]["characters"] == "54"
    assert Decimal(flash["ours"]["cost_usd"]) > 0 and flash["theirs"]["cost_usd"] is None


async def test_a_missing_day_is_coverage(gateway, elevenlabs_server, lk_http, tmp_path):
    usage = await seed(gateway, elevenlabs_server)
    for series in usage.values():
        series[1] = 0  # ElevenLabs counted nothing on the second day
    # the export's last day billed nothing: the reader keeps the day, so it is still compared
    code, rows = reconcile(tmp_path, usage)
    assert code == 1
    for model in (FLASH, MULTILINGUAL):
        missing = rows[(model, str(DAYS[1]))]
        assert (missing["status"], missing["cause"]) == ("flagged", "coverage")
        assert all(v in (None, "0") for v in missing["theirs"]["units"].values())
    assert rows[(FLASH, str(DAYS[0]))]["status"] == "ok"


async def test_a_units_gap_is_units(gateway, elevenlabs_server, lk_http, tmp_path):
    usage = await seed(gateway, elevenlabs_server)
    usage[FLASH][0] += 2  # 3.7 % more characters than the server received
    code, rows = reconcile(tmp_path, usage)
    assert code == 1
    gap = rows[(FLASH, str(DAYS[0]))]
    assert (gap["status"], gap["cause"]) == ("flagged", "units")
    assert gap["detail"].startswith("characters: ours 54, theirs 56")
    assert [k for k, r in rows.items() if r["status"] == "flagged"] == [(FLASH, str(DAYS[0]))]


async def test_credits_instead_of_characters_exit_2_naming_the_value(
    gateway, elevenlabs_server, lk_http, tmp_path
):
    """The API's default metric is credits, half a credit a character on Flash: a body asked
    for without ``metric=tts_characters`` is refused, naming the first value only credits can
    be."""
    usage = await seed(gateway, elevenlabs_server)
    credits = {FLASH: [n / 2 for n in usage[FLASH]], MULTILINGUAL: usage[MULTILINGUAL]}
    assert credits[FLASH] == [27, 12.5]
    export = character_stats(tmp_path / "character-stats.json", credits)
    done = voicegw_reconcile(tmp_path / "voicegw.yaml", str(export))
    assert done.returncode == 2 and done.stdout == ""
    assert f"{export.name}: usage.{FLASH}[1], column '{FLASH}': " in done.stderr
    assert "12.5" in done.stderr
