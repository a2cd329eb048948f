"""ElevenLabs' character-stats body read into BilledUsage lines through the registered reader,
and refused with the path and field named when malformed or not per model, per day, in
characters."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path

import pytest

from voicegateway.reconcile.billed import BilledUsage, ExportError, UsageReader
from voicegateway_elevenlabs import plugin
from voicegateway_testkit.exports import assert_export_error, registered_readers

STATS = Path(__file__).parent / "exports" / "character_stats_by_model.json"
DAY = datetime.date.fromisoformat

DEEPGRAM_USAGE_HEAD = (
    b'{"start": "2025-03-03", "end": "2025-03-05", "resolution": {"units": "day", "amount": 1}, '
    b'"results": [{"hours": 1.5, "total_hours": 1.5, "agent_hours": 0, "tokens_in": 0, '
    b'"tokens_out": 0, "tts_characters": 0, "requests": 2, "grouping": {"models": ["Nova-3"]}}]}'
)
CARTESIA_HEAD = (
    b'{"data": [{"start_ts": "2025-03-03T00:00:00.000Z", '
    b'"end_ts": "2025-03-04T00:00:00.000Z", "credits": 15872}]}'
)


def reader() -> UsageReader:
    [only] = registered_readers(plugin).values()
    return only


def write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "stats.json"
    path.write_text(json.dumps(doc))
    return path


def test_reads_tts_characters_per_model_and_utc_day():
    def line(model, day, characters, j):
        return BilledUsage(
            "elevenlabs",
            model,
            DAY(day),
            "tts",
            {"characters": Decimal(characters)},
            None,
            None,
            f"character_stats_by_model.json:usage.{model}[{j}]",
        )

    assert list(reader().read(STATS)) == [
        line("eleven_turbo_v2_5", "2025-03-03", 18230, 0),
        line("eleven_turbo_v2_5", "2025-03-04", 0, 1),
        line("eleven_turbo_v2_5", "2025-03-05", 20114, 2),
        line("eleven_multilingual_v2", "2025-03-03", 0, 0),
        line("eleven_multilingual_v2", "2025-03-04", 4096, 1),
        line("eleven_multilingual_v2", "2025-03-05", 512, 2),
        # speech-to-speech and Scribe are not TTS; a zero day is kept: the file covers it
    ]


BASE = json.loads(STATS.read_text())


@pytest.mark.parametrize(
    ("doc", "where", "column", "says"),
    [
        ({**BASE, "usage": {"All": [1, 2, 3]}}, "usage", "All", "breakdown_type=model"),
        (
            {**BASE, "usage": {"21m00Tcm4TlvDq8ikWAM": [1, 2, 3]}},
            "usage",
            "21m00Tcm4TlvDq8ikWAM",
            "breakdown_type=model",
        ),
        (
            {**BASE, "usage": {"eleven_turbo_v2_5": [9115, 0, 10057.5]}},
            "usage.eleven_turbo_v2_5[2]",
            "eleven_turbo_v2_5",
            "metric=tts_characters",
        ),
        (
            {**BASE, "usage": {"eleven_turbo_v2_5": [1, 2]}},
            "usage.eleven_turbo_v2_5",
            "eleven_turbo_v2_5",
            "one per time",
        ),
        (
            {**BASE, "usage": {"eleven_turbo_v2_5": [1, None, 3]}},
            "usage.eleven_turbo_v2_5[1]",
            "eleven_turbo_v2_5",
            "expected a number, got null",
        ),
        (
            {**BASE, "time": [1740960000000, 1741046400000, 1741132800001]},
            "time[2]",
            "time",
            "UTC midnight",
        ),
        (
            {**BASE, "time": [1740960000000, 1741046400000, 1741564800000]},
            "time[2]",
            "time",
            "not daily",
        ),
        ({**BASE, "time": "1740960000000"}, "top level", "time", "expected an array"),
        ({"time": BASE["time"]}, "top level", "usage", "missing"),
    ],
)
def test_malformed_stats_name_the_path_and_field(tmp_path, doc, where, column, says):
    path = write(tmp_path, doc)
    with pytest.raises(ExportError) as caught:
        list(reader().read(path))
    assert_export_error(caught.value, path.name, where, column, says)


def test_sniff_tells_the_format_apart():
    heads = {
        "stats": STATS.read_bytes(),
        "deepgram": DEEPGRAM_USAGE_HEAD,
        "cartesia": CARTESIA_HEAD,
        "csv": b"date,model,characters\n2025-03-03,eleven_turbo_v2_5,10\n",
    }
    assert {k for k, head in heads.items() if reader().sniff("x.json", head)} == {"stats"}
    assert reader().provider == "elevenlabs" and reader().timezone == "UTC"
