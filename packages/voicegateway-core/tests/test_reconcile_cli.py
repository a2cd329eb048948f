"""``voicegw reconcile`` against a ledger of known records: days in the reader's time zone,
billed STT seconds, projects, the legs an export covers, output formats, bad input."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from voicegateway.cli import main
from voicegateway.ledger import Ledger, Spooler
from voicegateway.ledger.queries import billed_by_day
from voicegateway.records import UsageRecord

LA = "America/Los_Angeles"
FAKE_HEADER = "date,fake_model,modality,quantity,usd\n"


def at(text: str, zone: str = LA) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def record(when: str, **fields) -> UsageRecord:
    values = {"call_id": "c", "modality": "stt", "provider": "fake", "model": "fake-stt"}
    values |= {"project": "app", "ts": at(when), "price_source": "local", "price_rates": "{}"}
    return UsageRecord(**{**values, "cost_usd": Decimal(0), **fields})


RECORDS = [
    # 23:30 in Los Angeles on the 2nd is the 3rd in UTC: the fake export's days are LA days
    record("2026-11-02T23:30", audio_seconds=30.0),
    record("2026-11-02T10:00", audio_seconds=0.0, audio_seconds_measured=12.5),  # none reported
    record("2026-11-02T11:00", project="other", audio_seconds=7.5),
    record("2026-11-03T09:00", modality="tts", model="fake-tts", characters=42, audio_seconds=3.0),
    record("2026-11-02T09:00", provider="elsewhere", model="x", audio_seconds=99.0),
]


@pytest.fixture
def config(tmp_path):
    spool = Spooler(tmp_path / "usage.duckdb.spool", flush_interval=3600)
    for r in RECORDS:
        spool.append(r)
    spool.close()
    path = tmp_path / "voicegw.yaml"
    path.write_text(f'storage: {{path: "{tmp_path / "usage.duckdb"}"}}\n')
    return path


def run(capsys, config, *args) -> tuple[int, str, str]:
    code = main(["reconcile", "--config", str(config), *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_billed_seconds_fall_back_to_measured_and_days_are_the_readers(config, tmp_path):
    with Ledger(tmp_path / "usage.duckdb", tmp_path / "usage.duckdb.spool").open() as con:
        first, last = datetime(2026, 11, 2).date(), datetime(2026, 11, 3).date()
        rows = billed_by_day(con, ["fake"], first, last, timezone=LA)
        by_key = {(r["modality"], r["project"], str(r["day"])): r for r in rows}
        assert by_key[("stt", "app", "2026-11-02")]["audio_seconds"] == Decimal("42.5")
        assert by_key[("stt", "other", "2026-11-02")]["audio_seconds"] == Decimal("7.5")
        assert by_key[("tts", "app", "2026-11-03")]["audio_seconds"] == Decimal(3)
        assert by_key[("tts", "app", "2026-11-03")]["characters"] == 42
        utc: dict[tuple[str, str], Decimal] = {}
        for r in billed_by_day(con, ["fake"], first, last, timezone="UTC"):
            day = (r["modality"], str(r["day"]))
            utc[day] = utc.get(day, 0) + r["audio_seconds"]
        assert utc == {
            ("stt", "2026-11-02"): Decimal(20),
            ("stt", "2026-11-03"): Decimal(30),
            ("tts", "2026-11-03"): Decimal(3),
        }


def test_a_provider_reader_found_by_discovery_agrees(capsys, config, tmp_path):
    export = write(
        tmp_path,
        "fake.csv",
        FAKE_HEADER + "2026-11-02,fake-stt,stt,50,0\n2026-11-03,fake-tts,tts,42,0\n",
    )
    code, out, err = run(capsys, config, export)
    assert (code, err) == (0, "")
    assert "0 of 2 rows flagged" in out
    assert "elsewhere" not in out  # a provider without an export is not reported


def test_a_reader_covering_every_leg_flags_a_leg_it_has_no_line_for(capsys, config, tmp_path):
    export = write(tmp_path, "fake.csv", FAKE_HEADER + "2026-11-02,fake-stt,stt,50,0\n")
    code, out, _ = run(capsys, config, export, "--until", "2026-11-04", "--format", "json")
    assert code == 1
    [tts] = [r for r in json.loads(out)["rows"] if r["leg"] == "tts"]
    assert (tts["cause"], tts["theirs"]) == ("coverage", None)


def test_generic_files_compare_only_the_legs_they_bill_in_their_time_zone(capsys, config, tmp_path):
    export = write(
        tmp_path,
        "usage.csv",
        """\
        provider,model,day,leg,audio_seconds
        fake,fake-stt,2026-11-02,stt,50
        """,
    )
    code, out, _ = run(capsys, config, export, "--timezone", LA, "--until", "2026-11-04")
    assert code == 0, out
    code, out, _ = run(capsys, config, export, "--format", "json")  # UTC days: 30 s on the 3rd
    assert code == 1
    [row] = json.loads(out)["rows"]  # the export covers the 2nd only
    assert (row["day"], row["cause"]) == ("2026-11-02", "units")
    assert row["detail"] == "audio_seconds: ours 20, theirs 50 (-60.00%)"


def test_accounts_map_to_projects(capsys, config, tmp_path):
    export = write(
        tmp_path,
        "usage.csv",
        """\
        provider,model,day,leg,audio_seconds,account
        fake,fake-stt,2026-11-02,stt,42.5,key-app
        fake,fake-stt,2026-11-02,stt,7.5,key-other
        """,
    )
    args = (export, "--timezone", LA, "--account-map", "key-app=app")
    code, out, err = run(capsys, config, *args, "--account-map", "key-other=other")
    assert code == 0, out + err
    assert "project" in out.splitlines()[0]
    code, out, _ = run(capsys, config, *args, "--account-map", "key-other=app", "--format", "json")
    rows = {r["project"]: r for r in json.loads(out)["rows"]}
    assert code == 1 and rows["other"]["cause"] == "coverage"
    assert rows["app"]["cause"] == "units"
    code, _, err = run(capsys, config, *args)
    assert code == 2 and "account 'key-other' (usage.csv:row 3) is not in --account-map" in err


def test_csv_output(capsys, config, tmp_path):
    export = write(tmp_path, "fake.csv", FAKE_HEADER + "2026-11-02,fake-stt,stt,50,0.01\n")
    code, out, _ = run(capsys, config, export, "--format", "csv")
    assert code == 1
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert row["ours_audio_seconds"] == "50" and row["theirs_audio_seconds"] == "50"
    assert (row["ours_cost_usd"], row["theirs_cost_usd"], row["difference_cost_usd"]) == (
        "0",
        "0.01",
        "-0.01",
    )
    assert (row["status"], row["cause"]) == ("flagged", "rate")


def test_a_forced_reader_and_the_list_of_readers(capsys, config, tmp_path):
    export = write(tmp_path, "odd.csv", "vendor,model,day,leg,audio_seconds\n")
    code, _, err = run(capsys, config, export)
    assert code == 2 and "no reader recognises" in err and "fake-usage-csv" in err
    code, out, _ = run(capsys, config, export, "--reader", "generic", "--map", "vendor=provider")
    assert code == 0 and "nothing to compare" in out
    code, out, _ = run(capsys, config, "--list-readers")
    assert code == 0 and "fake-usage-csv" in out and "generic" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--units-tolerance", "1%"], "--units-tolerance '1%': expected a number"),
        (["--cost-tolerance", "-0.1"], "--cost-tolerance '-0.1'"),
        (["--reader", "nope"], "--reader 'nope': no such format; known formats:"),
        (["--since", "11/02/2026"], "--since '11/02/2026': expected a day"),
        (["--since", "2026-11-03", "--until", "2026-11-03"], "--until must be after --since"),
        (["--map", "a=b"], "--map 'a=b'"),
        (["--account-map", "key"], "--account-map 'key': expected ACCOUNT=PROJECT"),
        (["--timezone", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_options_exit_2(capsys, config, tmp_path, args, message):
    export = write(tmp_path, "fake.csv", FAKE_HEADER)
    code, out, err = run(capsys, config, export, *args)
    assert (code, out) == (2, "")
    assert message in err


def test_no_files_or_no_ledger_exit_2(capsys, config, tmp_path):
    code, _, err = run(capsys, config)
    assert code == 2 and "name at least one FILE" in err
    export = write(tmp_path, "fake.csv", FAKE_HEADER + "2026-11-02,fake-stt,stt,50,0\n")
    code, _, err = run(capsys, tmp_path / "missing.yaml", export)
    assert code == 2 and "missing.yaml" in err
