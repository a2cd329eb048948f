"""Every listing command, run as a user runs it against a real ledger: ``--format table|json|csv``
(``--json`` an alias), exact decimals in JSON and CSV, units in table headers, STT and TTS audio
seconds in separate columns."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from voicegateway.ledger.spool import Spooler
from voicegateway.records import UsageRecord

from .conftest import voicegw

NOISY = 0.08866666666666667  # 1330 samples at 15 kHz: a float that prints with binary noise


@pytest.fixture
def ledger_dir(tmp_path) -> Path:
    """A voicegw.yaml and a ledger seeded through the spool, as job processes write it: two STT
    reports whose float seconds sum with noise, a TTS report with audio, an LLM call, a record
    whose cost DuckDB returns as ``0E-12``, and an unpriced one."""
    (tmp_path / "voicegw.yaml").write_text(
        textwrap.dedent(f"""\
        default_project: app
        storage: {{path: {tmp_path / "usage.duckdb"}}}
        projects:
          app: {{budget: {{daily_usd: 2.5, action: warn}}}}
    """)
    )
    spool = Spooler(tmp_path / "usage.duckdb.spool")
    common = {"project": "app", "session_id": "s1", "room": "r1", "price_source": "catalog"}
    spool.append(
        UsageRecord("c1", "stt", "deepgram", "nova-3", audio_seconds=0.1,
                    audio_seconds_measured=0.1, cost_usd=Decimal("0.000008"), ttfb_ms=120.5,
                    duration_ms=1000.0, **common)
    )  # fmt: skip
    spool.append(
        UsageRecord("c1", "stt", "deepgram", "nova-3", audio_seconds=NOISY,
                    audio_seconds_measured=NOISY, cost_usd=Decimal("0.000007093333"),
                    ttfb_ms=100.0, duration_ms=300.0, **common)
    )  # fmt: skip
    spool.append(
        UsageRecord("c2", "tts", "openai", "tts-1", characters=40, audio_seconds=2.5,
                    cost_usd=Decimal("0.0006"), ttfb_ms=80.0, duration_ms=2500.0, **common)
    )  # fmt: skip
    spool.append(
        UsageRecord("c3", "llm", "openai", "gpt-4o-mini", input_tokens=1000, output_tokens=100,
                    cost_usd=Decimal("0E-9"), ttfb_ms=300.3333333, duration_ms=900.0, **common)
    )  # fmt: skip
    spool.append(
        UsageRecord("c4", "tts", "elevenlabs", "mystery", "app", characters=12,
                    price_source="unpriced", price_detail="not in the catalog")
    )  # fmt: skip
    spool.close()
    return tmp_path


def json_of(*args: str, cwd: Path):
    done = voicegw(*args, "--format", "json", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def csv_of(*args: str, cwd: Path) -> list[dict[str, str]]:
    done = voicegw(*args, "--format", "csv", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return list(csv.DictReader(io.StringIO(done.stdout)))


def test_costs_keep_stt_and_tts_seconds_apart_as_exact_decimals(ledger_dir):
    [row] = json_of("costs", cwd=ledger_dir)
    assert "audio_seconds" not in row
    # each report's seconds to the microsecond, summed exactly: 0.1 + 0.088667
    assert row["stt_audio_seconds"] == "0.188667"
    assert row["audio_seconds_measured"] == "0.188667"
    assert row["tts_audio_seconds"] == "2.5"
    assert row["cost_usd"] == "0.000615093333"
    assert row["requests"] == 5 and row["input_tokens"] == 1000  # whole numbers stay numbers
    [line] = csv_of("costs", cwd=ledger_dir)
    assert {k: line[k] for k in ("stt_audio_seconds", "tts_audio_seconds", "cost_usd")} == {
        "stt_audio_seconds": "0.188667",
        "tts_audio_seconds": "2.5",
        "cost_usd": "0.000615093333",
    }
    by_modality = {r["modality"]: r for r in json_of("costs", "--by", "modality", cwd=ledger_dir)}
    assert by_modality["llm"]["cost_usd"] == "0"  # never "0E-9"
    assert (by_modality["tts"]["stt_audio_seconds"], by_modality["stt"]["tts_audio_seconds"]) == (
        "0",
        "0",
    )


def test_tables_name_units_in_their_headers(ledger_dir):
    costs = voicegw("costs", cwd=ledger_dir).stdout.splitlines()[0]
    for header in ("STT audio (s)", "TTS audio (s)", "cost ($)", "input tokens"):
        assert header in costs
    latency = voicegw("latency", cwd=ledger_dir).stdout.splitlines()[0]
    assert "TTFB p50 (ms)" in latency and "duration p99 (ms)" in latency
    logs = voicegw("logs", cwd=ledger_dir).stdout.splitlines()[0]
    assert "audio (s)" in logs and "TTFB (ms)" in logs and "cost ($)" in logs
    sessions = voicegw("sessions", cwd=ledger_dir).stdout.splitlines()[0]
    assert "duration (s)" in sessions and "STT ($)" in sessions
    budgets = voicegw("budgets", cwd=ledger_dir).stdout.splitlines()[0]
    assert "limit ($)" in budgets and "remaining ($)" in budgets


def test_latency_and_logs_carry_exact_decimals(ledger_dir):
    rows = {r["model"]: r for r in json_of("latency", cwd=ledger_dir)}
    assert rows["gpt-4o-mini"]["ttfb_p50_ms"] == "300.333"
    assert rows["nova-3"]["duration_p99_ms"] == "993"  # 300 + 0.99 * 700, not 992.9999...
    logs = {(r["call_id"], r["audio_seconds"]) for r in csv_of("logs", cwd=ledger_dir)}
    assert ("c1", "0.088667") in logs and ("c1", "0.1") in logs
    costs = [r["cost_usd"] for r in json_of("logs", cwd=ledger_dir)]
    assert "0" in costs and all("E" not in c for c in costs if c)


LISTINGS = [
    ("costs",),
    ("costs", "--what-if", "stt=deepgram/nova-2"),
    ("latency",),
    ("logs",),
    ("sessions",),
    ("budgets",),
    ("providers",),
    ("prices", "deepgram/nova-3"),
    ("prices", "--unpriced"),
]


@pytest.fixture
def run_main(ledger_dir, monkeypatch, capsys):
    """``voicegw ARGS`` in this process (fast), against the seeded ledger: its stdout."""
    from voicegateway.cli import main

    monkeypatch.chdir(ledger_dir)
    monkeypatch.setenv("HOME", str(ledger_dir))
    monkeypatch.setenv("XDG_CACHE_HOME", str(ledger_dir / "cache"))

    def run(*args: str) -> str:
        status = main(list(args))
        out, err = capsys.readouterr()
        assert status == 0, err
        return out

    return run


@pytest.mark.parametrize("command", LISTINGS, ids=" ".join)
def test_every_listing_takes_format_and_json_is_its_alias(run_main, command):
    as_json = json.loads(run_main(*command, "--format", "json"))
    assert json.loads(run_main(*command, "--json")) == as_json
    assert as_json, "the seeded ledger has something for every listing"
    rows = list(csv.DictReader(io.StringIO(run_main(*command, "--format", "csv"))))
    assert rows and all(None not in row.values() for row in rows)  # every row fills the header
    assert run_main(*command, "--format", "table").strip()
    assert run_main(*command).strip() == run_main(*command, "--format", "table").strip()
    assert "E-" not in json.dumps(as_json) and not any("E-" in str(r) for r in rows)


def test_long_cells_wrap_in_the_table(ledger_dir):
    out = voicegw("prices", "--unpriced", cwd=ledger_dir).stdout
    assert "not in the catalog" in out
    wide = voicegw("costs", "--by", "modality", "--what-if", "tts=nowhere/nothing", cwd=ledger_dir)
    assert wide.returncode == 0, wide.stderr
    assert max(len(line) for line in wide.stdout.splitlines()) < 240  # the detail wraps
