"""The reports: grouping by calendar periods of a configured time zone, windows, what-if prices,
latency percentiles, logs, sessions, exports, and the CLI's JSON shape."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
import types
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import duckdb
import pytest

from voicegateway.ledger import Ledger, Spooler
from voicegateway.ledger import queries as q
from voicegateway.records import UsageRecord

LA = "America/Los_Angeles"


def at(text: str, zone: str = LA) -> float:
    """Epoch seconds of a local wall-clock time."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def record(ts: float, **fields) -> UsageRecord:
    values = {"call_id": "c", "modality": "llm", "provider": "openai", "model": "gpt-4o-mini"}
    return UsageRecord(**{**values, "project": "app", "ts": ts, **fields})


def ledger_with(tmp_path, records, timezone: str = "UTC") -> Ledger:
    spool = Spooler(tmp_path / "spool", flush_interval=3600)
    for r in records:
        spool.append(r)
    spool.close()
    return Ledger(tmp_path / "usage.duckdb", tmp_path / "spool", timezone=timezone)


# Around the end of November and the end of daylight saving time (Sunday 2026-11-01, 02:00 PDT).
AROUND = {
    "r1": "2026-11-30T23:30",  # Monday night in LA, already 1 December in UTC
    "r2": "2026-11-29T23:30",  # Sunday night in LA, already Monday in UTC
    "r3": "2026-11-01T00:30",  # PDT, the day DST ends
    "r4": "2026-10-31T23:30",  # PDT, 1 November in UTC
    "r5": "2026-11-01T23:30",  # PST, the same local day as r3
}


@pytest.fixture
def around(tmp_path) -> Ledger:
    records = [
        record(at(text), request_id=rid, input_tokens=n, cost_usd=Decimal(n) / 1000)
        for n, (rid, text) in enumerate(AROUND.items(), start=1)
    ]
    return ledger_with(tmp_path, records, timezone=LA)


def groups(rows, period: str) -> dict[date, tuple[int, int]]:
    return {row[period]: (row["requests"], row["input_tokens"]) for row in rows}


def test_days_weeks_and_months_are_those_of_the_configured_zone(around):
    with around.open() as con:
        by_day = q.costs(con, ["day"], timezone=LA)
        assert groups(by_day, "day") == {
            date(2026, 10, 31): (1, 4),
            date(2026, 11, 1): (2, 3 + 5),
            date(2026, 11, 29): (1, 2),
            date(2026, 11, 30): (1, 1),
        }
        assert groups(q.costs(con, ["week"], timezone=LA), "week") == {
            date(2026, 10, 26): (3, 4 + 3 + 5),  # Saturday 31 Oct to Sunday 1 Nov: one week
            date(2026, 11, 23): (1, 2),
            date(2026, 11, 30): (1, 1),
        }
        assert groups(q.costs(con, ["week"], timezone="UTC"), "week") == {
            date(2026, 10, 26): (2, 3 + 4),
            date(2026, 11, 2): (1, 5),
            date(2026, 11, 30): (2, 1 + 2),
        }
        assert groups(q.costs(con, ["month"], timezone=LA), "month") == {
            date(2026, 10, 1): (1, 4),
            date(2026, 11, 1): (4, 1 + 2 + 3 + 5),
        }
        assert groups(q.costs(con, ["month"], timezone="UTC"), "month") == {
            date(2026, 11, 1): (4, 2 + 3 + 4 + 5),
            date(2026, 12, 1): (1, 1),
        }
        [row] = q.costs(con, ["project", "month"], timezone=LA, filters=q.Filters(project="app"))[
            1:
        ]
        assert row["cost_usd"] == Decimal("0.011") and row["project"] == "app"


def test_since_and_until_are_read_in_the_zone_and_until_is_exclusive(around):
    since = q.parse_when("2026-11-01", LA)
    until = q.parse_when("2026-11-30T23:30", LA)
    assert since == datetime(2026, 11, 1, 7, tzinfo=UTC)  # midnight PDT
    with around.open() as con:
        [row] = q.costs(con, timezone=LA, filters=q.Filters(since=since, until=until))
        assert (row["requests"], row["input_tokens"]) == (3, 2 + 3 + 5)


def test_parse_when_forms():
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert q.parse_when("7d", LA, now) == datetime(2026, 11, 18, 12, tzinfo=UTC)
    assert q.parse_when("90m", LA, now) == datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    assert q.parse_when("today", LA, now) == datetime(2026, 11, 25, 8, tzinfo=UTC)
    assert q.parse_when("2026-11-01T08:00+00:00", LA) == datetime(2026, 11, 1, 8, tzinfo=UTC)
    with pytest.raises(ValueError, match="not a time"):
        q.parse_when("last tuesday", LA)


@pytest.mark.parametrize(
    "zone", ["America/Los_Angeles", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu"]
)
def test_local_days_match_duckdbs_own_time_zone_conversion(tmp_path, zone):
    """The integer-offset grouping against ICU's, over random instants of twelve years (DST
    changes of 30 minutes in Lord Howe, a +05:45 offset in Kathmandu)."""
    rng = random.Random(zone)
    lo, hi = at("2015-01-01T00:00", "UTC"), at("2027-01-01T00:00", "UTC")
    records = [record(rng.uniform(lo, hi), input_tokens=1) for _ in range(3000)]
    # and instants a second around each local midnight
    records += [
        record(at(f"2026-03-{d:02d}T00:00", zone) + s) for d in range(1, 31) for s in (-1, 0)
    ]
    ledger = ledger_with(tmp_path, records, timezone=zone)
    with ledger.open() as con:
        ours = {row["day"]: row["requests"] for row in q.costs(con, ["day"], timezone=zone)}
        icu = dict(
            con.execute(
                "SELECT (ts AT TIME ZONE ?)::DATE, count(*) FROM usage GROUP BY 1", [zone]
            ).fetchall()
        )
    assert ours == icu


def test_grouping_by_keys_and_validation(around):
    with around.open() as con:
        [row] = q.costs(con, ["provider", "model", "modality"])
        assert (row["provider"], row["model"], row["modality"], row["requests"]) == (
            "openai", "gpt-4o-mini", "llm", 5
        )  # fmt: skip
        assert set(row) == {
            "provider",
            "model",
            "modality",
            "requests",
            "cost_usd",
            "unpriced",
            "refused",
        } | set(q.COST_UNITS)
        assert "audio_seconds" not in row  # STT and TTS seconds are never summed together
    with pytest.raises(ValueError, match="one period"):
        q.split_by(["day", "month"])
    with pytest.raises(ValueError, match="cannot group by room"):
        q.split_by(["room"])


MIXED = [
    dict(modality="stt", provider="deepgram", model="nova-2", audio_seconds=60.0, project="a",
         cost_usd=Decimal("0.0043")),
    dict(modality="stt", provider="deepgram", model="nova-2", audio_seconds=30.0, project="b",
         cost_usd=Decimal("0.00215")),
    dict(modality="llm", provider="openai", model="gpt-4o", input_tokens=1000, output_tokens=100,
         project="a", cost_usd=Decimal("0.0035")),
    dict(modality="tts", provider="cartesia", model="sonic", characters=500, project="a",
         cost_usd=Decimal("0.019")),
]  # fmt: skip


def fake_pricing(monkeypatch, prices: dict[tuple[str, str], Decimal | None]):
    """A stand-in for voicegateway.pricing: one rate per unit, whatever the unit."""
    module = types.ModuleType("voicegateway.pricing")

    def price_units(provider, model, modality, units):
        rate = prices[(provider, model)]
        if rate is None:
            return None, f"{provider}/{model} is not in the catalog"
        return rate * sum(Decimal(str(v)) for v in units.values()), "test catalog"

    module.price_units = price_units
    monkeypatch.setitem(sys.modules, "voicegateway.pricing", module)


def test_what_if_reprices_the_recorded_units_of_the_substituted_modalities(tmp_path, monkeypatch):
    fake_pricing(monkeypatch, {("deepgram", "nova-3"): Decimal("0.0001"), ("x", "y"): None})
    ledger = ledger_with(tmp_path, [record(at("2026-11-02T10:00"), **m) for m in MIXED])
    with ledger.open() as con:
        rows = {
            r["project"]: r for r in q.what_if(con, {"stt": ("deepgram", "nova-3")}, ["project"])
        }
        assert rows["a"]["what_if_usd"] == Decimal("0.006") + Decimal("0.0035") + Decimal("0.019")
        assert rows["a"]["cost_usd"] == Decimal("0.0268")
        assert rows["b"]["what_if_usd"] == Decimal("0.003")
        assert rows["a"]["what_if_detail"] == "stt as deepgram/nova-3: test catalog"
        assert rows["a"]["requests"] == 3 and rows["a"]["stt_audio_seconds"] == Decimal(60)
        [row] = q.what_if(con, {"llm": ("x", "y")})
        assert row["what_if_usd"] is None and "not in the catalog" in row["what_if_detail"]


def test_what_if_uses_the_real_pricing_function(tmp_path):
    pricing = pytest.importorskip("voicegateway.pricing")
    ledger = ledger_with(tmp_path, [record(at("2026-11-02T10:00"), **m) for m in MIXED])
    with ledger.open() as con:
        rows = q.what_if(con, {"llm": ("openai", "gpt-4o-mini")}, ["modality"])
    llm = next(r for r in rows if r["modality"] == "llm")
    expected, _ = pricing.price_units(
        "openai", "gpt-4o-mini", "llm", {"input_tokens": 1000, "output_tokens": 100}
    )
    assert expected is not None and llm["what_if_usd"] == expected


def test_latency_percentiles_per_provider_and_model(tmp_path):
    records = [record(at("2026-11-02T10:00"), ttfb_ms=float(t), duration_ms=float(10 * t))
               for t in range(1, 101)]  # fmt: skip
    records.append(record(at("2026-11-02T10:00"), provider="groq", model="llama", ttfb_ms=5.0))
    with ledger_with(tmp_path, records).open() as con:
        groq, openai = q.latency(con)
    assert (groq["provider"], groq["ttfb_p50_ms"], groq["duration_p50_ms"]) == ("groq", 5, None)
    assert openai["requests"] == 100
    assert openai["ttfb_p50_ms"] == Decimal("50.5")  # exact: to the microsecond
    assert openai["ttfb_p95_ms"] == Decimal("95.05")
    assert openai["ttfb_p99_ms"] == Decimal("99.01")
    assert openai["duration_p99_ms"] == Decimal("990.1")


def test_logs_are_newest_first_and_filtered(tmp_path):
    records = [
        record(at("2026-11-02T10:00") + i, status="error" if i % 3 == 0 else "ok",
               modality="tts" if i % 2 else "llm", input_tokens=i)
        for i in range(20)
    ]  # fmt: skip
    with ledger_with(tmp_path, records).open() as con:
        got = q.logs(con, q.Filters(status="error", modality="llm"), limit=2)
    assert [r["input_tokens"] for r in got] == [18, 12]


def test_sessions_start_duration_calls_cost_per_leg_and_per_minute(tmp_path):
    t0 = at("2026-11-02T10:00")
    leg = {"stt": "0.01", "llm": "0.02", "tts": "0.03"}

    def rec(session, offset, modality, call, cost, **more):
        return record(t0 + offset, session_id=session, modality=modality, call_id=call,
                      cost_usd=None if cost is None else Decimal(cost), **more)  # fmt: skip

    records = [
        # "long": 120 s from the start of its STT stream (10 s before its first report)
        rec("long", 10, "stt", "s1", leg["stt"], duration_ms=10_000.0, room="r"),
        *(rec("long", 20 + i, m, f"l{i}", leg[m]) for i, m in enumerate(("llm", "tts"))),
        rec("long", 110, "stt", "s1", leg["stt"]),  # the same call reports again
        # "short": 30 s, one unpriced record, costs more in total
        rec("short", 200, "llm", "x1", "0.5", duration_ms=0.0),
        rec("short", 230, "tts", "x2", None),
        record(t0 + 300, call_id="n"),  # no session: left out
    ]
    with ledger_with(tmp_path, records).open() as con:
        latest, first = q.sessions(con)
        by_cost = [row["session_id"] for row in q.sessions(con, sort="cost")]
        by_minute = [row["session_id"] for row in q.sessions(con, sort="per-minute")]
        by_duration = [row["session_id"] for row in q.sessions(con, sort="duration")]
        with pytest.raises(ValueError, match="cannot sort sessions by 'price'"):
            q.sessions(con, sort="price")
    assert list(first) == [
        "session_id", "project", "room", "started", "duration_s", "calls",
        "stt_usd", "llm_usd", "tts_usd", "cost_usd", "usd_per_minute", "unpriced",
    ]  # fmt: skip
    assert (latest["session_id"], first["session_id"]) == ("short", "long")
    assert first["started"].timestamp() == t0  # the STT stream began before its first report
    assert (first["duration_s"], first["calls"], first["room"]) == (110.0, 3, "r")
    assert (first["stt_usd"], first["llm_usd"], first["tts_usd"]) == (
        Decimal("0.02"), Decimal("0.02"), Decimal("0.03"),
    )  # fmt: skip
    assert first["cost_usd"] == Decimal("0.07")
    assert first["usd_per_minute"] == (Decimal("0.07") * 60 / 110).quantize(Decimal("1e-12"))
    assert (latest["duration_s"], latest["cost_usd"], latest["unpriced"]) == (
        30.0, Decimal("0.5"), 1,
    )  # fmt: skip
    assert latest["tts_usd"] is None and latest["usd_per_minute"] == Decimal(1)
    assert by_cost == ["short", "long"] == by_minute
    assert by_duration == ["long", "short"]


def test_costs_by_session(tmp_path):
    records = [record(at("2026-11-02T10:00") + i, session_id=s, cost_usd=Decimal("0.25"),
                      input_tokens=10) for i, s in enumerate(["a", "b", "a", None])]  # fmt: skip
    with ledger_with(tmp_path, records).open() as con:
        rows = q.costs(con, ["session", "day"], timezone=LA)
    assert [(r["session"], r["day"], r["requests"], r["cost_usd"]) for r in rows] == [
        ("a", date(2026, 11, 2), 2, Decimal("0.5")),
        ("b", date(2026, 11, 2), 1, Decimal("0.25")),
        (None, date(2026, 11, 2), 1, Decimal("0.25")),
    ]


def test_month_to_date_spend_of_every_project(tmp_path):
    records = [record(at("2026-11-30T23:30"), project="a", cost_usd=Decimal("1.5")),
               record(at("2026-12-01T00:30"), project="a", cost_usd=Decimal("0.25")),
               record(at("2026-12-02T00:30"), project="b", cost_usd=Decimal("2"))]  # fmt: skip
    now = datetime.fromtimestamp(at("2026-12-05T12:00"), UTC)
    with ledger_with(tmp_path, records).open() as con:
        assert q.month_to_date(con, LA, now) == {"a": Decimal("0.25"), "b": Decimal("2")}


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_round_trips(tmp_path, fmt):
    records = [record(at("2026-11-02T10:00") + i, cost_usd=Decimal("0.000000123456"),
                      input_tokens=i, room="r'1") for i in range(5)]  # fmt: skip
    ledger = ledger_with(tmp_path, records)
    out = tmp_path / f"it's.{fmt}"
    since = datetime.fromtimestamp(at("2026-11-02T10:00:01"), UTC)
    with ledger.open() as con:
        assert q.export(con, out, fmt, q.Filters(since=since)) == 4
    if fmt == "csv":
        with out.open() as f:
            got = [
                (r["request_id"], Decimal(r["cost_usd"]), int(r["input_tokens"]))
                for r in csv.DictReader(f)
            ]
    elif fmt == "json":
        got = [(r["request_id"], Decimal(str(r["cost_usd"])), r["input_tokens"])
               for r in json.loads(out.read_text())]  # fmt: skip
    else:
        got = duckdb.execute(
            "SELECT request_id, cost_usd, input_tokens FROM read_parquet(?)", [str(out)]
        ).fetchall()
    assert got == [(r.request_id, Decimal("0.000000123456"), r.input_tokens) for r in records[1:]]


def voicegw(*args, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEGW_")}
    return subprocess.run(
        [sys.executable, "-m", "voicegateway.cli", *args],
        cwd=cwd, capture_output=True, text=True, env=env,
    )  # fmt: skip


def test_cli_costs_json_is_a_list_of_rows_with_keys_units_and_exact_cost(around, tmp_path):
    (tmp_path / "voicegw.yaml").write_text(
        f"storage: {{path: {around.path}, spool_dir: {around.spool_dir}, timezone: {LA}}}\n"
    )
    result = voicegw("costs", "--by", "project,day", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["project"], r["day"], r["requests"]) for r in rows][:2] == [
        ("app", "2026-10-31", 1), ("app", "2026-11-01", 2)
    ]  # fmt: skip
    assert set(rows[0]) == {
        "project", "day", "requests", "cost_usd", "unpriced", "refused", *q.COST_UNITS
    }  # fmt: skip
    assert rows[1]["cost_usd"] == "0.008"  # exact decimal text
    table = voicegw("costs", "--by", "model", cwd=tmp_path)
    assert "gpt-4o-mini" in table.stdout and "0.015" in table.stdout
    bad = voicegw("costs", "--by", "room", cwd=tmp_path)
    assert bad.returncode == 2 and "cannot group by room" in bad.stderr  # bad input
