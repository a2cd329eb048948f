"""The ingest: spool files land exactly once, malformed ones are set aside, and while the ledger
is locked or unreachable the files wait and land later."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from voicegateway.ledger import Ledger, Spooler
from voicegateway.records import UsageRecord


def record(i: int = 0, **fields) -> UsageRecord:
    values = {"call_id": f"c{i}", "modality": "llm", "provider": "openai", "model": "gpt-4o-mini"}
    return UsageRecord(**{**values, "project": "app", "input_tokens": i, **fields})


def spool_files(ledger: Ledger, *batches: list[UsageRecord]) -> list[Path]:
    """One spool file per batch, written by a real Spooler."""
    spool = Spooler(ledger.spool_dir, flush_interval=3600)
    for batch in batches:
        for r in batch:
            spool.append(r)
        spool.flush()
    spool.close()
    return ledger.pending_files()


def rows(ledger: Ledger, sql: str = "SELECT request_id, input_tokens FROM usage ORDER BY 2"):
    with ledger.open(ingest=False) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    return Ledger(tmp_path / "usage.duckdb", lock_timeout=0.3)


def test_ingest_moves_every_file_in_and_deletes_it(ledger):
    records = [record(i, cost_usd=Decimal("0.000000123456")) for i in range(10)]
    spool_files(ledger, records[:4], records[4:])
    report = ledger.ingest()
    assert (report.files, report.records, report.duplicates, report.waiting) == (2, 10, 0, 0)
    assert ledger.pending_files() == []
    assert rows(ledger) == [(r.request_id, r.input_tokens) for r in records]
    [(total,)] = rows(ledger, "SELECT sum(cost_usd) FROM usage")
    assert total == Decimal("0.00000123456")


def test_copies_of_a_record_land_once(ledger):
    first, second = [record(i) for i in range(3)], [record(i) for i in range(3, 5)]
    spool_files(ledger, first, [*first[1:], *second])  # two files share two records
    assert ledger.ingest().duplicates == 2
    spool_files(ledger, [first[0], second[0]])  # and again in a later ingest
    report = ledger.ingest()
    assert (report.records, report.duplicates) == (0, 2)
    assert [i for _, i in rows(ledger)] == [0, 1, 2, 3, 4]


def test_a_file_committed_but_not_deleted_is_not_read_twice(ledger, tmp_path):
    [path] = spool_files(ledger, [record(1), record(2)])
    kept = shutil.copy(path, tmp_path / "kept")
    ledger.ingest()
    shutil.copy(kept, path)  # as if the process died between COMMIT and unlink
    report = ledger.ingest()
    assert (report.files, report.records, report.waiting) == (0, 0, 0)
    assert not path.exists()
    assert len(rows(ledger)) == 2


def test_a_malformed_file_is_set_aside_and_never_blocks_the_others(ledger, caplog):
    spool_files(ledger, [record(1)], [record(2)])
    broken = ledger.spool_dir / "999-0-00000000.jsonl"
    broken.write_text('{"call_id": "c", "input_tokens": "many"\n')
    report = ledger.ingest()
    assert (report.files, report.records) == (2, 2)
    assert report.bad == [ledger.spool_dir / "bad" / broken.name]
    assert report.bad[0].exists() and not broken.exists()
    assert any(broken.name in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


@pytest.mark.parametrize("kind", ["a directory", "a symbolic link to nothing", "a symbolic link"])
def test_a_directory_or_link_named_jsonl_is_set_aside_and_never_blocks_the_others(
    ledger, tmp_path, kind, caplog
):
    spool_files(ledger, [record(1)], [record(2)])
    stray = ledger.spool_dir / "000-0-00000000.jsonl"  # sorts first
    if kind == "a directory":
        stray.mkdir()
        (stray / "inside.txt").write_text("kept")
    elif kind == "a symbolic link to nothing":
        stray.symlink_to(tmp_path / "gone.jsonl")
    else:  # a link may point anywhere: it is never read
        elsewhere = tmp_path / "elsewhere.jsonl"
        elsewhere.write_text("not yours\n")
        stray.symlink_to(elsewhere)

    report = ledger.ingest()

    assert (report.files, report.records, report.error, report.waiting) == (2, 2, None, 0)
    assert report.bad == [ledger.spool_dir / "bad" / stray.name]
    assert report.bad[0].is_symlink() or (report.bad[0] / "inside.txt").read_text() == "kept"
    assert not os.path.lexists(stray)
    bad = ledger.spool_dir / "bad"
    assert f"{stray.name} is malformed and was moved to {bad}/: it is {kind}, not a" in caplog.text
    if kind == "a symbolic link":
        assert (tmp_path / "elsewhere.jsonl").read_text() == "not yours\n"
    spool_files(ledger, [record(3)])
    assert ledger.ingest().records == 1  # and the next ingests go on


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_spool_line_with_a_number_that_is_not_finite_is_set_aside(ledger, number, caplog):
    spool_files(ledger, [record(1)], [record(2)])
    good = record(3)
    line = json.loads(_line_of(ledger, good))
    text = json.dumps({**line, "audio_seconds": "X"}).replace('"X"', number)
    broken = ledger.spool_dir / "999-0-00000000.jsonl"
    broken.write_text(text + "\n")

    report = ledger.ingest()

    assert (report.files, report.records) == (2, 2)
    assert report.bad == [ledger.spool_dir / "bad" / broken.name]
    assert report.bad[0].read_text() == text + "\n"  # kept as it was, for a look
    assert "hold NaN or Infinity in audio_seconds" in caplog.text
    [(nan_rows,)] = rows(ledger, "SELECT count(*) FROM usage WHERE NOT isfinite(audio_seconds)")
    assert nan_rows == 0


def _line_of(ledger: Ledger, r: UsageRecord) -> str:
    """The spool line a Spooler writes for ``r``, written aside and read back."""
    spool = Spooler(ledger.spool_dir.with_name("aside"), flush_interval=3600)
    spool.append(r)
    spool.close()
    [path] = spool.spool_dir.glob("*.jsonl")
    return path.read_text()


def test_older_and_newer_spool_lines_land(ledger):
    """A line written before a unit existed reads as zero; a key the ledger does not know yet is
    ignored rather than rejected."""
    line = {
        "call_id": "c", "modality": "stt", "provider": "deepgram", "model": "nova-3",
        "project": "app", "request_id": "old-1", "ts": 1_790_000_000.5, "audio_seconds": 2.5,
        "future_field": 1,
    }  # fmt: skip
    ledger.spool_dir.mkdir(parents=True)
    (ledger.spool_dir / "1-0-00000000.jsonl").write_text(json.dumps(line) + "\n")
    assert ledger.ingest().records == 1
    sql = "SELECT audio_seconds, audio_seconds_measured, input_tokens, estimated, ts FROM usage"
    [(audio, measured, tokens, estimated, ts)] = rows(ledger, sql)
    assert (audio, measured, tokens, estimated) == (2.5, 0, 0, False)
    assert ts.timestamp() == 1_790_000_000.5


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(120)
"""

HOLD_DATABASE = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("holder", [HOLD_LOCK, HOLD_DATABASE], ids=["flock", "duckdb-shell"])
def test_while_another_process_holds_the_ledger_files_wait_then_land(ledger, holder, caplog):
    ledger.ingest()  # the file exists
    spool_files(ledger, [record(i) for i in range(5)])
    target = ledger.lock_path if holder is HOLD_LOCK else ledger.path
    proc = subprocess.Popen(
        [sys.executable, "-c", holder, str(target)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "locked"
        report = ledger.ingest()
        assert (report.records, report.waiting) == (0, 1)
        assert report.error and "lock" in report.error.lower()
        [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert "1 spool files wait" in warning and str(ledger.spool_dir) in warning
    finally:
        proc.kill()
        proc.wait()
    report = ledger.ingest()
    assert (report.records, report.waiting, report.error) == (5, 0, None)
    assert "writable again" in caplog.records[-1].getMessage()


def test_an_unreachable_database_leaves_the_files_waiting(tmp_path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    ledger = Ledger(blocker / "usage.duckdb", tmp_path / "spool")
    spool_files(ledger, [record(1)])
    report = ledger.ingest()
    assert (report.records, report.waiting) == (0, 1) and report.error
    assert "will be ingested later" in caplog.records[-1].getMessage()
    blocker.unlink()
    assert ledger.ingest().records == 1


def test_a_spool_file_never_finished_is_set_aside(ledger):
    ledger.spool_dir.mkdir(parents=True)
    tmp = ledger.spool_dir / "5-0-00000000.jsonl.tmp"
    tmp.write_text('{"call_id": "c", "mod')
    old = time.time() - 7200
    os.utime(tmp, (old, old))
    ledger.ingest()
    assert not tmp.exists() and (ledger.spool_dir / "bad" / tmp.name).exists()


def test_a_reader_sees_pending_records_because_open_ingests_first(ledger):
    spool_files(ledger, [record(7)])
    with ledger.open() as con:
        assert con.execute("SELECT input_tokens FROM usage").fetchall() == [(7,)]
    with duckdb.connect(str(ledger.path), read_only=True) as con:  # closed: others may open it
        assert con.execute("SELECT count(*) FROM usage").fetchone() == (1,)
