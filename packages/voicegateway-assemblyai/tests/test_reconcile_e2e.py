"""``voicegw reconcile`` against AssemblyAI's dashboard usage chart, end to end.

Two days of Universal-Streaming sessions go through ``voicegateway.inference`` with the real
``livekit.plugins.assemblyai.STT`` against the testkit's AssemblyAIServer; the chain meters,
prices and spools them, and the records are stamped with the day being seeded
(``voicegateway_testkit.ledger_days``). The export is the Usage page's daily chart (``{data,
names}``, hours per model label) written from what the server billed: the
``session_duration_seconds`` of each ``Termination`` it sent, as hours in the float the dashboard
shows. ``voicegw reconcile`` runs in a subprocess, as a user runs it.
"""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path

from livekit.plugins import assemblyai as lk_assemblyai

from voicegateway import inference
from voicegateway_testkit.conformance import drive_stt, speech, wait_ended
from voicegateway_testkit.ledger_days import record_days, voicegw_reconcile

DAYS = [datetime.date(2026, 11, 2), datetime.date(2026, 11, 3)]
PLAN = {DAYS[0]: (2.0, 1.5), DAYS[1]: (3.0,)}  # day: seconds of speech in each session
LABEL = "Universal-Streaming"  # the dashboard's name for universal-streaming-english


async def seed(gateway, server) -> list[int]:
    """Two days of sessions; the session seconds the server billed each day."""
    server.transcript = "book a table"
    clock = record_days(gateway, DAYS[0])
    billed = []
    for day, sessions in PLAN.items():
        clock.day = day
        before = len(server.terminations)
        listener = inference.STT("assemblyai/universal-streaming-english")
        assert isinstance(listener.plugin, lk_assemblyai.STT)
        for seconds in sessions:
            assert await drive_stt(listener, speech(seconds))
        await wait_ended(listener)
        terminations = server.terminations[before:]
        assert len(terminations) == len(sessions)
        billed.append(sum(t["session_duration_seconds"] for t in terminations))
    gateway.spooler.flush()
    return billed


def usage_chart(path: Path, hours: list) -> Path:
    """The chart's props, one point per UTC day, hours as JSON numbers."""
    data = [
        {LABEL: amount, "name": f"{day.isoformat()}T00:00:00.000Z"}
        for day, amount in zip(DAYS, hours, strict=True)
    ]
    path.write_text(json.dumps({"data": data, "names": [LABEL]}))
    return path


def reconcile(tmp_path: Path, seconds: list, *args) -> tuple[int, dict[str, dict]]:
    export = usage_chart(tmp_path / "usage.json", [s / 3600 for s in seconds])
    done = voicegw_reconcile(tmp_path / "voicegw.yaml", str(export), *args, "--format", "json")
    assert done.returncode in (0, 1), done.stderr
    rows = json.loads(done.stdout)["rows"]
    assert {(r["model"], r["leg"]) for r in rows} == {("universal-streaming-english", "stt")}
    return done.returncode, {r["day"]: r for r in rows}


async def test_exact_agreement_exits_0(gateway, assemblyai_server, lk_http, tmp_path):
    billed = await seed(gateway, assemblyai_server)
    code, rows = reconcile(tmp_path, billed)
    assert code == 0, rows
    assert set(rows) == {str(day) for day in DAYS}
    for day, seconds in zip(DAYS, billed, strict=True):
        row = rows[str(day)]
        assert row["status"] == "ok"
        assert Decimal(row["ours"]["units"]["audio_seconds"]) == seconds
        # the dashboard's float hours, times 3600: the billed seconds to within a float's error
        theirs = Decimal(row["theirs"]["units"]["audio_seconds"])
        assert abs(theirs - seconds) < Decimal("1e-9")
    assert Decimal(rows[str(DAYS[0])]["ours"]["cost_usd"]) > 0


async def test_a_missing_day_is_coverage(gateway, assemblyai_server, lk_http, tmp_path):
    billed = await seed(gateway, assemblyai_server)
    billed[1] = 0  # the dashboard shows nothing for the second day
    # the export's last day billed nothing: the reader keeps the day, so it is still compared
    code, rows = reconcile(tmp_path, billed)
    assert code == 1
    missing = rows[str(DAYS[1])]
    assert (missing["status"], missing["cause"]) == ("flagged", "coverage")
    assert all(v in (None, "0") for v in missing["theirs"]["units"].values())
    assert rows[str(DAYS[0])]["status"] == "ok"


async def test_a_units_gap_is_units(gateway, assemblyai_server, lk_http, tmp_path):
    billed = await seed(gateway, assemblyai_server)
    ours = billed[0]
    billed[0] += 1  # a second more than the sessions the server terminated
    code, rows = reconcile(tmp_path, billed)
    assert code == 1
    gap = rows[str(DAYS[0])]
    assert (gap["status"], gap["cause"]) == ("flagged", "units")
    assert gap["detail"].startswith(f"audio_seconds: ours {ours}, theirs {ours + 1}")
    assert rows[str(DAYS[1])]["status"] == "ok"


async def test_a_malformed_point_exits_2_naming_it(gateway, assemblyai_server, lk_http, tmp_path):
    billed = await seed(gateway, assemblyai_server)
    hours = [s / 3600 for s in billed]
    hours[1] = f"{hours[1]} h"  # the tooltip's text, not the chart's number
    export = usage_chart(tmp_path / "usage.json", hours)
    done = voicegw_reconcile(tmp_path / "voicegw.yaml", str(export))
    assert done.returncode == 2 and done.stdout == ""
    assert f"{export.name}: data[1], column '{LABEL}': " in done.stderr
