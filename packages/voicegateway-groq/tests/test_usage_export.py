"""The Groq console activity reader: the example file read line by line, malformed files refused
with the row and field named, and the format told apart from other providers' exports."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from voicegateway.plugins import PluginHost
from voicegateway.reconcile.billed import BilledUsage, ExportError
from voicegateway_groq import usage_export
from voicegateway_testkit.exports import (
    assert_export_error,
    broken_copy,
    drop_at,
    run_reconcile,
    set_at,
)

EXPORTS = Path(__file__).parent / "exports"
ACTIVITY = EXPORTS / "groq_activity.json"
ASSEMBLYAI_CHART = (
    Path(__file__).parents[2]
    / "voicegateway-assemblyai"
    / "tests"
    / "exports"
    / "assemblyai_usage_chart.json"
)
PROD, STAGING = "project_01hzprod000000000000000000", "project_01hzstaging0000000000000000"
JAN1, JAN2 = datetime.date(2026, 1, 1), datetime.date(2026, 1, 2)


def test_reads_every_row_as_one_line_in_billed_units():
    lines = list(usage_export.read(ACTIVITY))

    def line(index, model, day, leg, units, cost, account=PROD):
        return BilledUsage(
            provider="groq",
            model=model,
            day=day,
            leg=leg,
            units={k: Decimal(v) for k, v in units.items()},
            cost_usd=Decimal(cost),
            account=account,
            source=f"groq_activity.json:data[{index}]",
        )

    assert lines == [
        line(
            0,
            "llama-3.3-70b-versatile",
            JAN1,
            "llm",
            {"input_tokens": 51234, "cached_tokens": 0, "output_tokens": 3120},
            "0.03269286",
        ),
        line(
            1,
            "openai/gpt-oss-120b",
            JAN1,
            "llm",
            {"input_tokens": 20000, "cached_tokens": 16000, "output_tokens": 1500},
            "0.0024",
        ),
        line(2, "whisper-large-v3-turbo", JAN1, "stt", {"audio_seconds": "138.2"}, "0.00153556"),
        line(
            3,
            "llama-3.3-70b-versatile",
            JAN2,
            "llm",
            {"input_tokens": 900, "cached_tokens": 0, "output_tokens": 60},
            "0.0005784",
            STAGING,
        ),
        line(4, "whisper-large-v3", JAN2, "stt", {"audio_seconds": 20}, "0.00061667"),
    ]
    # Exact decimals, not floats: the JSON's 138.2 and 0.03269286 survive as written.
    assert all(isinstance(v, Decimal) for ln in lines for v in ln.units.values())


@pytest.mark.parametrize(
    ("change", "where", "column", "problem"),
    [
        (
            set_at("data", 3, "n_generated_tokens_total", "60"),
            "data[3]",
            "n_generated_tokens_total",
            "expected a number, got a string",
        ),
        (
            set_at("data", 1, "n_context_tokens_total", -5),
            "data[1]",
            "n_context_tokens_total",
            "non-negative",
        ),
        (
            set_at("data", 1, "n_non_cached_context_tokens_total", 25000),
            "data[1]",
            "n_non_cached_context_tokens_total",
            "more than n_context_tokens_total",
        ),
        (drop_at("data", 2, "num_seconds_billed"), "data[2]", "num_seconds_billed", "missing"),
        (set_at("data", 4, "model", ""), "data[4]", "model", "missing model"),
        (
            set_at("data", 0, "timestamp", None),
            "data[0]",
            "timestamp",
            "expected a number, got null",
        ),
        (set_at("data", 0, "cost", "about a dollar"), "data[0]", "cost", "not an amount"),
        (set_at("data", 0, "cost", True), "data[0]", "cost", "not an amount"),
        (lambda body: body.update(has_more=True), "top level", "has_more", "one page of several"),
        (lambda body: body.update(data={"rows": []}), "top level", "data", "expected an array"),
        (
            lambda body: body["data"].insert(2, "row"),
            "data[2]",
            None,
            "expected an object, got a string",
        ),
    ],
)
def test_malformed_rows_are_refused_naming_the_row_and_field(
    tmp_path, change, where, column, problem
):
    path = broken_copy(ACTIVITY, tmp_path, change)
    with pytest.raises(ExportError) as caught:
        list(usage_export.read(path))
    assert_export_error(caught.value, ACTIVITY.name, where, column, problem)


def test_cost_given_as_dollar_text_is_read_exactly(tmp_path):
    path = broken_copy(ACTIVITY, tmp_path, set_at("data", 0, "cost", "$1,234.56"))
    assert next(usage_export.read(path)).cost_usd == Decimal("1234.56")


def test_a_row_without_cost_is_usage_only(tmp_path):
    path = broken_copy(ACTIVITY, tmp_path, drop_at("data", 0, "cost"))
    assert next(usage_export.read(path)).cost_usd is None


def test_not_json_is_refused(tmp_path):
    path = tmp_path / "activity.json"
    path.write_text('{"object": "list", "data": [')
    with pytest.raises(ExportError) as caught:
        list(usage_export.read(path))
    assert caught.value.where.startswith("line 1 column")
    assert caught.value.problem.startswith("not JSON")


def test_sniff_tells_the_activity_list_from_other_exports():
    head = ACTIVITY.read_bytes()[:65536]
    assert usage_export.sniff("groq_activity.json", head)
    assert not usage_export.sniff("chart.json", ASSEMBLYAI_CHART.read_bytes()[:65536])
    openai_costs = b'{"object": "page", "data": [{"object": "bucket", "results": []}]}'
    assert not usage_export.sniff("costs.json", openai_costs)
    assert not usage_export.sniff("usage.csv", b"date,model,input_tokens\n2026-01-01,x,1\n")


def test_the_plugin_registers_the_reader_and_stays_light():
    readers = {r.name: r for r in PluginHost().usage_readers()}
    reader = readers["groq-console-activity"]
    assert (reader.provider, reader.timezone) == ("groq", "UTC")
    assert reader.sniff("groq_activity.json", ACTIVITY.read_bytes())
    assert [ln.model for ln in reader.read(ACTIVITY)][:2] == [
        "llama-3.3-70b-versatile",
        "openai/gpt-oss-120b",
    ]
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, voicegateway_groq.plugin; "
            "print('voicegateway_groq.usage_export' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "False"


# -- voicegw reconcile, end to end -------------------------------------------------------------


@pytest.fixture
async def seeded(tmp_path, use_config, groq_server, monkeypatch):
    """Calls made today through voicegateway.inference against the GroqServer, recorded in a
    DuckDB ledger, and one more chat recorded on the day before (``ledger_days``), which only a
    period asked for with ``--since`` holds; returns the config and the activity rows Groq would
    bill today."""
    from voice_prices import Usage, calc_price

    from voicegateway import inference
    from voicegateway_testkit.audio import audio_frames, pcm_silence
    from voicegateway_testkit.conformance import NO_RETRY, drive_llm
    from voicegateway_testkit.ledger_days import record_days

    from .conftest import GROQ_KEY

    monkeypatch.setenv("GROQ_API_KEY", GROQ_KEY)
    gateway = use_config(f"""
        default_project: app
        providers:
          groq: {{base_url: "{groq_server.url}/openai/v1"}}
        storage: {{path: "{tmp_path / "usage.duckdb"}", flush_interval: 0.05}}
    """)
    today = datetime.datetime.now(datetime.UTC).date()
    clock = record_days(gateway, today)
    groq_server.prompt_tokens, groq_server.cached_tokens = 900, 0
    groq_server.completion_tokens = 30
    brain = inference.LLM("groq/llama-3.3-70b-versatile")
    for _ in range(3):
        await drive_llm(brain, "A table for two, please.")
    listener = inference.STT("groq/whisper-large-v3-turbo")
    for seconds in (2.0, 12.5):
        frames = audio_frames(pcm_silence(seconds, sample_rate=16000), sample_rate=16000)
        await listener.recognize(frames, conn_options=NO_RETRY)
    chats = len(groq_server.requests_for("/openai/v1/chat/completions"))
    clock.day = today - datetime.timedelta(days=1)
    await drive_llm(brain, "Is there a table tomorrow?")
    gateway.spooler.flush()

    prompt, completion = 900 * chats, 30 * chats
    billed = sum(Decimal(repr(max(10.0, s))) for s in groq_server.transcribed_seconds)
    midnight = int(datetime.datetime.combine(today, datetime.time(0), datetime.UTC).timestamp())
    llm_cost = calc_price(
        Usage(input_tokens=prompt, output_tokens=completion),
        "llama-3.3-70b-versatile",
        provider_id="groq",
    ).total_price
    stt_cost = calc_price(
        Usage(audio_input_seconds=billed), "whisper-large-v3-turbo", provider_id="groq"
    ).total_price
    common = {"organization_id": "org_x", "project_id": "project_x", "timestamp": midnight}
    rows = [
        common
        | {"model": "llama-3.3-70b-versatile", "num_requests": chats}
        | {"n_context_tokens_total": prompt, "n_non_cached_context_tokens_total": prompt}
        | {"n_generated_tokens_total": completion, "num_seconds": 0, "num_seconds_billed": 0}
        | {"cost": str(llm_cost)},
        common
        | {"model": "whisper-large-v3-turbo", "num_requests": 2, "n_context_tokens_total": 0}
        | {"n_non_cached_context_tokens_total": 0, "n_generated_tokens_total": 0}
        | {"num_seconds": sum(groq_server.transcribed_seconds), "num_seconds_billed": float(billed)}
        | {"cost": str(stt_cost)},
    ]
    return tmp_path / "voicegw.yaml", rows


def _activity(path: Path, rows: list[dict]) -> Path:
    body = {"object": "list", "data": rows, "has_more": False, "next_page": None}
    path.write_text(json.dumps(body))
    return path


async def test_reconcile_agrees_with_the_activity_groq_bills(seeded, tmp_path):
    config, rows = seeded
    export = _activity(tmp_path / "activity.json", rows)
    done = run_reconcile(config, str(export), "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    found = {r["leg"]: r for r in json.loads(done.stdout)["rows"]}
    assert {leg: r["status"] for leg, r in found.items()} == {"llm": "ok", "stt": "ok"}
    # Two clips of 2 s and 12.5 s: Groq bills 10 + 12.5 seconds, and so do our records.
    assert Decimal(found["stt"]["ours"]["units"]["audio_seconds"]) == Decimal("22.5")
    assert found["llm"]["theirs"]["units"]["output_tokens"] == "90"


async def test_reconcile_flags_a_units_gap(seeded, tmp_path):
    config, rows = seeded
    rows[0]["n_generated_tokens_total"] += 45
    done = run_reconcile(
        config, str(_activity(tmp_path / "activity.json", rows)), "--format", "json"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    found = {r["leg"]: r for r in json.loads(done.stdout)["rows"]}
    assert (found["llm"]["status"], found["llm"]["cause"]) == ("flagged", "units")
    assert found["stt"]["status"] == "ok"


async def test_reconcile_flags_a_rate_change_and_proposes_overrides(seeded, tmp_path):
    config, rows = seeded
    # Groq billed the prompt at $0.69 per 1M tokens, not the $0.59 we priced; output as listed
    chat = rows[0]
    prompt, completion = chat["n_context_tokens_total"], chat["n_generated_tokens_total"]
    chat["cost"] = str(prompt * Decimal("0.69e-6") + completion * Decimal("0.79e-6"))
    proposal = tmp_path / "overrides.yaml"
    export = _activity(tmp_path / "activity.json", rows)
    done = run_reconcile(config, str(export), "--format", "json", "--write-overrides", proposal)
    assert done.returncode == 1, done.stdout + done.stderr
    found = {r["leg"]: r for r in json.loads(done.stdout)["rows"]}
    llm = found["llm"]
    assert (llm["status"], llm["cause"]) == ("flagged", "rate")
    assert llm["ours"]["units"] == llm["theirs"]["units"]
    assert Decimal(llm["ours"]["cost_usd"]) == Decimal("0.0016641")
    assert Decimal(llm["theirs"]["cost_usd"]) == Decimal("0.0019341")
    # $0.0016641 and $0.0019341 over the 2790 tokens (2700 in, 90 out) of the three chats
    blended = "/1M tokens (input and output blended)"
    assert llm["detail"].startswith(f"ours $0.596452{blended}, theirs $0.693226{blended}")
    assert "priced by catalog" in llm["detail"], llm["detail"]
    assert found["stt"]["status"] == "ok"
    proposed = proposal.read_text()
    assert "theirs/ours = 1.1622499" in proposed
    assert "  groq/llama-3.3-70b-versatile: {" in proposed
    assert "whisper" not in proposed


async def test_reconcile_flags_a_day_groq_billed_nothing_as_coverage(seeded, tmp_path):
    config, rows = seeded
    today = datetime.datetime.fromtimestamp(rows[0]["timestamp"], datetime.UTC).date()
    before = today - datetime.timedelta(days=1)
    # Groq's activity for the two days has rows for today only: it billed nothing the day before
    export = _activity(tmp_path / "activity.json", rows)
    period = ("--since", str(before), "--until", str(today + datetime.timedelta(days=1)))
    done = run_reconcile(config, str(export), *period, "--format", "json")
    assert done.returncode == 1, done.stdout + done.stderr
    found = {(r["leg"], r["day"]): r for r in json.loads(done.stdout)["rows"]}
    assert set(found) == {("llm", str(before)), ("llm", str(today)), ("stt", str(today))}
    gone = found[("llm", str(before))]
    assert (gone["status"], gone["cause"], gone["theirs"]) == ("flagged", "coverage", None)
    assert gone["ours"]["units"]["output_tokens"] == "30"
    assert {found[("llm", str(today))]["status"], found[("stt", str(today))]["status"]} == {"ok"}


async def test_reconcile_refuses_a_malformed_activity_file(seeded, tmp_path):
    config, rows = seeded
    rows[1]["num_seconds_billed"] = "twenty"
    done = run_reconcile(config, str(_activity(tmp_path / "activity.json", rows)))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "activity.json: data[1], column 'num_seconds_billed'" in done.stderr
    assert done.stdout == ""
