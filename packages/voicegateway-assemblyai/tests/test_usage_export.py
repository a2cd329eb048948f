"""The AssemblyAI dashboard usage-chart reader: the example chart read into exact lines of
billed seconds, malformed charts refused with the point and label named, and the format told
apart from other providers' exports."""

from __future__ import annotations

import datetime
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from voicegateway.plugins import PluginHost
from voicegateway.reconcile.billed import BilledUsage, ExportError
from voicegateway_assemblyai import usage_export
from voicegateway_assemblyai.plugin import MODELS
from voicegateway_testkit.exports import assert_export_error, broken_copy, set_at

CHART = Path(__file__).parent / "exports" / "assemblyai_usage_chart.json"
GROQ_ACTIVITY = (
    Path(__file__).parents[2] / "voicegateway-groq" / "tests" / "exports" / "groq_activity.json"
)


def _line(index: int, model: str, day: int, seconds: str) -> BilledUsage:
    return BilledUsage(
        provider="assemblyai",
        model=model,
        day=datetime.date(2026, 1, day),
        leg="stt",
        units={"audio_seconds": Decimal(seconds)},
        cost_usd=None,
        source=f"assemblyai_usage_chart.json:data[{index}]",
    )


def test_reads_hours_per_label_as_billed_seconds_per_model_and_day():
    assert list(usage_export.read(CHART)) == [
        _line(0, "universal-streaming-english", 1, "4500"),
        _line(0, "universal-streaming-multilingual", 1, "1800"),
        _line(1, "universal-streaming-english", 2, "2700"),
        _line(1, "universal-3-5-pro-streaming", 2, "360"),
        _line(1, "keyterm-prompting", 2, "2700"),
        _line(2, "universal", 3, "7200"),
        _line(2, "universal-streaming-english", 3, "0"),  # kept: the file covers the day
    ]


def test_streaming_labels_become_the_model_names_our_records_use():
    ours = {model.name for model in MODELS}
    for label in (
        "Universal-Streaming",
        "Universal-Streaming Multilingual",
        "Universal-3.5 Pro Streaming",
    ):
        assert usage_export.model_id(label) in ours


@pytest.mark.parametrize(
    ("change", "where", "column", "problem"),
    [
        (
            set_at("data", 1, "Universal-Streaming", "0.75"),
            "data[1]",
            "Universal-Streaming",
            "expected a number, got a string",
        ),
        (
            set_at("data", 0, "Universal-Streaming", -1),
            "data[0]",
            "Universal-Streaming",
            "non-negative",
        ),
        (set_at("data", 2, "Nano", 1), "data[2]", "Nano", "names do not list"),
        (set_at("data", 2, "name", "January 3"), "data[2]", "name", "not an ISO day"),
        (
            set_at("data", 0, "name", "2026-13-01T00:00:00.000Z"),
            "data[0]",
            "name",
            "not an ISO day",
        ),
        (lambda body: body.pop("names"), "top level", "names", "missing"),
        (lambda body: body.update(data="none"), "top level", "data", "expected an array"),
        (
            lambda body: body["data"].append(3),
            "data[3]",
            None,
            "expected an object, got an integer",
        ),
    ],
)
def test_malformed_charts_are_refused_naming_the_point_and_label(
    tmp_path, change, where, column, problem
):
    path = broken_copy(CHART, tmp_path, change)
    with pytest.raises(ExportError) as caught:
        list(usage_export.read(path))
    assert_export_error(caught.value, CHART.name, where, column, problem)


def test_not_json_is_refused(tmp_path):
    path = tmp_path / "usage.json"
    path.write_text("name,Universal-Streaming\n2026-01-01,1.25\n")
    with pytest.raises(ExportError) as caught:
        list(usage_export.read(path))
    assert caught.value.where == "line 1 column 1"
    assert caught.value.problem.startswith("not JSON")


def test_sniff_tells_the_chart_from_other_exports():
    assert usage_export.sniff("usage.json", CHART.read_bytes()[:65536])
    assert not usage_export.sniff("activity.json", GROQ_ACTIVITY.read_bytes()[:65536])
    openai_costs = b'{"object": "page", "data": [{"object": "bucket", "results": []}]}'
    assert not usage_export.sniff("costs.json", openai_costs)
    assert not usage_export.sniff("usage.csv", b"name,Universal\n2026-01-01T00:00:00Z,1\n")


def test_the_plugin_registers_the_reader_and_stays_light():
    readers = {r.name: r for r in PluginHost().usage_readers()}
    reader = readers["assemblyai-dashboard-usage-chart"]
    assert (reader.provider, reader.timezone, reader.legs) == ("assemblyai", "UTC", ("stt",))
    assert reader.sniff("usage.json", CHART.read_bytes())
    assert len(list(reader.read(CHART))) == 7
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, voicegateway_assemblyai.plugin; "
            "print('voicegateway_assemblyai.usage_export' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "False"
