"""Deepgram's usage and billing breakdowns read into BilledUsage lines, through the registered
readers, and refused with the row and field named when malformed."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path

import pytest

from voicegateway.reconcile.billed import BilledUsage, ExportError, UsageReader
from voicegateway_deepgram import plugin
from voicegateway_testkit.exports import (
    assert_export_error,
    broken_copy,
    drop_at,
    registered_readers,
    set_at,
)

EXPORTS = Path(__file__).parent / "exports"
USAGE = EXPORTS / "usage_breakdown.json"
BILLING = EXPORTS / "billing_breakdown.json"
KEY = "8f3c2d1e-5b6a-4c7d-9e0f-1a2b3c4d5e6f"

# Heads of the other providers' exports, in their documented shapes.
ELEVENLABS_HEAD = b'{"time": [1740960000000], "usage": {"eleven_turbo_v2_5": [18230]}}'
CARTESIA_HEAD = (
    b'{"data": [{"start_ts": "2025-03-03T00:00:00.000Z", '
    b'"end_ts": "2025-03-04T00:00:00.000Z", "credits": 15872}]}'
)
OPENAI_COSTS_HEAD = (
    b'{"object": "page", "data": [{"object": "bucket", "start_time": 1730419200, "results": '
    b'[{"object": "organization.costs.result", "amount": {"value": 0.06, "currency": "usd"}}]}]}'
)


def readers() -> dict[str, UsageReader]:
    return registered_readers(plugin)


def read(name: str, path: Path) -> list[BilledUsage]:
    return list(readers()[name].read(path))


def d(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


def test_usage_breakdown_reads_into_lines():
    assert read("deepgram-usage-breakdown", USAGE) == [
        BilledUsage(
            "deepgram",
            "nova-3",
            d("2025-03-03"),
            "stt",
            {"audio_seconds": Decimal("5400.0")},
            None,
            KEY,
            "usage_breakdown.json:results[0]",
        ),
        BilledUsage(
            "deepgram",
            "aura-2",
            d("2025-03-03"),
            "tts",
            {"characters": Decimal(48211)},
            None,
            KEY,
            "usage_breakdown.json:results[1]",
        ),
        BilledUsage(
            "deepgram",
            "nova-2",
            d("2025-03-04"),
            "stt",
            {"audio_seconds": Decimal("919.5999999999998400")},
            None,
            KEY,
            "usage_breakdown.json:results[2]",
        ),
        # results[3] is the Voice Agent API: not a leg VoiceGateway routes.
        BilledUsage(
            "deepgram",
            "nova-3",
            d("2025-03-05"),
            "stt",
            {"audio_seconds": Decimal("7200.4999999999996800")},
            None,
            KEY,
            "usage_breakdown.json:results[4]",
        ),
        BilledUsage(
            "deepgram",
            "aura-2",
            d("2025-03-05"),
            "tts",
            {"characters": Decimal(51007)},
            None,
            KEY,
            "usage_breakdown.json:results[5]",
        ),
        BilledUsage(  # billed nothing, and kept: the file covers the day
            "deepgram",
            "nova-2",
            d("2025-03-05"),
            "stt",
            {"audio_seconds": Decimal(0)},
            None,
            KEY,
            "usage_breakdown.json:results[6]",
        ),
    ]


def test_hours_become_seconds_exactly_as_written():
    """No float on the way: the export's decimal text times 3600."""
    [line, _] = [x for x in read("deepgram-usage-breakdown", USAGE) if x.model == "nova-2"]
    assert line.units["audio_seconds"] == Decimal("0.2554444444444444") * 3600


def test_billing_breakdown_reads_into_cost_lines():
    assert read("deepgram-billing-breakdown", BILLING) == [
        BilledUsage(
            "deepgram",
            "nova-3",
            d("2025-03-03"),
            "stt",
            {},
            Decimal("0.693"),
            None,
            "billing_breakdown.json:results[0]",
        ),
        BilledUsage(
            "deepgram",
            "nova-2",
            d("2025-03-04"),
            "stt",
            {},
            Decimal("0.0896"),
            None,
            "billing_breakdown.json:results[1]",
        ),
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Nova-3", "nova-3"),
        ("nova-3-general", "nova-3"),
        ("nova-2-phonecall", "nova-2-phonecall"),
        ("aura-2-thalia-en", "aura-2"),
        ("aura-asteria-en", "aura-asteria-en"),
    ],
)
def test_models_are_named_as_records_name_them(name, expected):
    from voicegateway_deepgram.usage_export import record_model

    assert record_model(name) == expected


def test_without_endpoint_grouping_the_leg_comes_from_the_model(tmp_path):
    doc = json.loads(USAGE.read_text())
    for row in doc["results"]:
        row["grouping"]["endpoint"] = None
    doc["results"] = [doc["results"][0], doc["results"][1]]
    path = tmp_path / "usage.json"
    path.write_text(json.dumps(doc))
    assert [(x.model, x.leg) for x in read("deepgram-usage-breakdown", path)] == [
        ("nova-3", "stt"),
        ("aura-2", "tts"),
    ]


@pytest.mark.parametrize(
    ("change", "where", "column"),
    [
        (set_at("results", 2, "hours", "0.25"), "results[2]", "hours"),
        (set_at("results", 2, "hours", -1), "results[2]", "hours"),
        (drop_at("results", 5, "tts_characters"), "results[5]", "tts_characters"),
        (set_at("results", 5, "tts_characters", 12.5), "results[5]", "tts_characters"),
        (set_at("results", 1, "grouping", "models", []), "results[1].grouping", "models"),
        (drop_at("results", 1, "grouping", "models"), "results[1].grouping", "models"),
        (
            set_at("results", 1, "grouping", "models", ["aura-2-thalia-en", "nova-3"]),
            "results[1].grouping",
            "models",
        ),
        (
            set_at("results", 0, "grouping", "models", ["6f548761-c9c0-429a-9315-11a1d28499c8"]),
            "results[0].grouping",
            "models",
        ),
        (set_at("results", 4, "grouping", "start", "03/05/2025"), "results[4].grouping", "start"),
        (set_at("results", 4, "grouping", "end", "2025-03-06"), "results[4].grouping", "end"),
        (
            set_at("results", 4, "grouping", "endpoint", "listen2"),
            "results[4].grouping",
            "endpoint",
        ),
        (drop_at("results", 3, "grouping"), "results[3]", "grouping"),
        (set_at("results", 3, "oops"), "results[3]", None),
        (set_at("resolution", "units", "month"), "resolution", "units"),
        (set_at("resolution", "amount", 7), "resolution", "amount"),
        (drop_at("results"), "top level", "results"),
    ],
)
def test_malformed_usage_breakdown_names_the_row_and_field(tmp_path, change, where, column):
    path = broken_copy(USAGE, tmp_path, change)
    with pytest.raises(ExportError) as caught:
        read("deepgram-usage-breakdown", path)
    assert_export_error(caught.value, USAGE.name, where, column)


@pytest.mark.parametrize(
    ("change", "where", "column"),
    [
        (set_at("results", 1, "dollars", "0.09"), "results[1]", "dollars"),
        (set_at("results", 0, "grouping", "line_item", None), "results[0].grouping", "line_item"),
        (
            set_at("results", 0, "grouping", "line_item", "nova-3"),
            "results[0].grouping",
            "line_item",
        ),
        (set_at("results", 0, "grouping", "end", "2025-03-04"), "results[0].grouping", "end"),
    ],
)
def test_malformed_billing_breakdown_names_the_row_and_field(tmp_path, change, where, column):
    path = broken_copy(BILLING, tmp_path, change)
    with pytest.raises(ExportError) as caught:
        read("deepgram-billing-breakdown", path)
    assert_export_error(caught.value, BILLING.name, where, column)


def test_truncated_file_is_refused_whole(tmp_path):
    path = tmp_path / "usage.json"
    path.write_bytes(USAGE.read_bytes()[:-40])
    with pytest.raises(ExportError, match="not JSON"):
        read("deepgram-usage-breakdown", path)


def test_sniff_tells_the_formats_apart():
    usage, billing = readers()["deepgram-usage-breakdown"], readers()["deepgram-billing-breakdown"]
    heads = {
        "usage": USAGE.read_bytes()[:65536],
        "billing": BILLING.read_bytes()[:65536],
        "elevenlabs": ELEVENLABS_HEAD,
        "cartesia": CARTESIA_HEAD,
        "openai": OPENAI_COSTS_HEAD,
        "csv": b"date,model,characters\n2025-03-03,aura-2,10\n",
    }
    assert {k for k, head in heads.items() if usage.sniff("x.json", head)} == {"usage"}
    assert {k for k, head in heads.items() if billing.sniff("x.json", head)} == {"billing"}


def test_both_formats_are_registered():
    assert set(readers()) == {"deepgram-usage-breakdown", "deepgram-billing-breakdown"}
    assert all(r.provider == "deepgram" and r.timezone == "UTC" for r in readers().values())
