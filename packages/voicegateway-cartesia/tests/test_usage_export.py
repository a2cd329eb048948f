"""Cartesia's credit usage read into BilledUsage lines through the registered reader, and
refused with the bucket and field named when malformed or not daily."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path

import pytest

from voicegateway.reconcile.billed import BilledUsage, ExportError, UsageReader
from voicegateway_cartesia import plugin
from voicegateway_testkit.exports import assert_export_error, registered_readers

CREDITS = Path(__file__).parent / "exports" / "credit_usage.json"
DAY = datetime.date.fromisoformat

DEEPGRAM_BILLING_HEAD = (
    b'{"start": "2025-03-03", "end": "2025-03-04", "resolution": {"units": "day", "amount": 1},'
    b' "results": [{"dollars": 0.693, "grouping": {"line_item": "streaming::nova-3"}}]}'
)
ELEVENLABS_HEAD = b'{"time": [1740960000000], "usage": {"eleven_turbo_v2_5": [18230]}}'
OPENAI_USAGE_HEAD = (
    b'{"object": "page", "data": [{"object": "bucket", "start_time": 1730419200, '
    b'"end_time": 1730505600, "results": [{"object": "organization.usage.audio_speeches.result",'
    b' "characters": 45}]}]}'
)


def reader() -> UsageReader:
    [only] = registered_readers(plugin).values()
    return only


def test_reads_one_tts_line_per_day_with_credits_as_characters():
    def line(day, characters, i):
        return BilledUsage(
            "cartesia",
            "*",
            DAY(day),
            "tts",
            {"characters": Decimal(characters)},
            None,
            None,
            f"credit_usage.json:data[{i}]",
        )

    assert list(reader().read(CREDITS)) == [
        line("2025-03-03", 15872, 0),
        line("2025-03-04", 0, 1),  # no credits used, and kept: the file covers the day
        line("2025-03-05", 20931, 2),
    ]


def bucket(start="2025-03-03T00:00:00.000Z", end="2025-03-04T00:00:00.000Z", credits=10):
    return {"start_ts": start, "end_ts": end, "credits": credits}


@pytest.mark.parametrize(
    ("doc", "where", "column", "says"),
    [
        (
            {"data": [bucket(), bucket(credits="10")]},
            "data[1]",
            "credits",
            "expected a number, got a string",
        ),
        ({"data": [bucket(credits=-3)]}, "data[0]", "credits", "non-negative"),
        ({"data": [bucket(start="2025-03-03")]}, "data[0]", "start_ts", "no time zone"),
        ({"data": [bucket(end="tomorrow")]}, "data[0]", "end_ts", "RFC 3339"),
        (
            {"data": [bucket(end="2025-03-10T00:00:00.000Z")]},
            "data[0]",
            "end_ts",
            "interval=day",
        ),
        (
            {"data": [bucket(start="2025-03-03T00:00:00+05:00", end="2025-03-04T00:00:00+05:00")]},
            "data[0]",
            "end_ts",
            "interval=day",
        ),
        ({"data": [bucket(), "x"]}, "data[1]", None, "expected an object, got a string"),
        ({"buckets": []}, "top level", "data", "missing"),
    ],
)
def test_malformed_usage_names_the_bucket_and_field(tmp_path, doc, where, column, says):
    path = tmp_path / "credits.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ExportError) as caught:
        list(reader().read(path))
    assert_export_error(caught.value, path.name, where, column, says)


def test_a_day_in_another_zone_is_read_in_utc(tmp_path):
    """Cartesia's buckets are UTC days; the same instant written with an offset is that day."""
    path = tmp_path / "credits.json"
    path.write_text(
        json.dumps({"data": [bucket("2025-03-02T19:00:00-05:00", "2025-03-03T19:00:00-05:00")]})
    )
    [line] = reader().read(path)
    assert line.day == DAY("2025-03-03")


def test_sniff_tells_the_format_apart():
    heads = {
        "credits": CREDITS.read_bytes(),
        "deepgram": DEEPGRAM_BILLING_HEAD,
        "elevenlabs": ELEVENLABS_HEAD,
        "openai": OPENAI_USAGE_HEAD,
    }
    assert {k for k, head in heads.items() if reader().sniff("x.json", head)} == {"credits"}
    assert reader().provider == "cartesia" and reader().timezone == "UTC"
