"""The job side: ``Spooler.append`` is a memory append, files appear whole, a refusing disk keeps
records in memory until it recovers, a fork starts empty, and exit flushes."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

import pytest

from voicegateway.ledger import Ledger, Spooler
from voicegateway.ledger.spool import MAX_FILE_BYTES
from voicegateway.records import RECORD_FIELDS, UsageRecord


def record(i: int = 0, **fields) -> UsageRecord:
    values = {"call_id": f"c{i}", "modality": "llm", "provider": "openai", "model": "gpt-4o-mini"}
    return UsageRecord(**{**values, "project": "app", "input_tokens": i, **fields})


def spooled(spool_dir: Path) -> list[dict]:
    lines = []
    for path in sorted(spool_dir.glob("*.jsonl")):
        lines += [json.loads(line) for line in path.read_text().splitlines()]
    return lines


def test_append_is_in_memory_and_flush_publishes_whole_bounded_files(tmp_path):
    spool = Spooler(tmp_path / "spool", flush_interval=60)
    records = [record(i, cost_usd=Decimal("0.000000123456789")) for i in range(600)]
    for r in records:
        spool.append(r)
    assert not (tmp_path / "spool").exists()  # nothing touched the disk yet
    assert spool.pending == 600
    assert spool.recent(2) == records[-2:] and len(spool.recent()) == 600

    assert spool.flush() == 600
    paths = sorted((tmp_path / "spool").iterdir())
    assert len(paths) == 2  # 600 records are ~400 KB: two files of at most MAX_FILE_BYTES
    for path in paths:
        assert path.name.startswith(f"{os.getpid()}-") and path.suffix == ".jsonl"
        assert 0 < path.stat().st_size <= MAX_FILE_BYTES
        assert path.read_bytes().endswith(b"}\n")  # whole lines only
    lines = spooled(tmp_path / "spool")
    assert [tuple(line) for line in lines[:1]] == [RECORD_FIELDS]
    assert [line["request_id"] for line in lines] == [r.request_id for r in records]
    assert lines[0]["cost_usd"] == "0.000000123456789"  # exact: a string, not a float
    assert spool.pending == 0 and spool.flush() == 0
    spool.close()


def test_lines_are_json_with_every_field_even_awkward_values(tmp_path):
    class Kind(StrEnum):
        STT = "stt"

    awkward = 'quote " backslash \\ newline \n tab \t é 😀 \x00'
    r = record(
        1, project=awkward, modality=Kind.STT, ttfb_ms=float("nan"), duration_ms=float("inf"),
        audio_seconds=1e-9, input_tokens=2**62, estimated=True, cost_usd=Decimal("1E-12"),
    )  # fmt: skip
    spool = Spooler(tmp_path / "spool", flush_interval=60)
    spool.append(r)
    spool.close()
    [line] = spooled(tmp_path / "spool")
    assert line == {
        **{name: getattr(r, name) for name in RECORD_FIELDS},
        "ttfb_ms": None, "duration_ms": None, "cost_usd": "0.000000000001",
    }  # fmt: skip
    report = Ledger(tmp_path / "usage.duckdb", tmp_path / "spool").ingest()
    assert report.records == 1
    with Ledger(tmp_path / "usage.duckdb").open(ingest=False) as con:
        got = con.execute("SELECT project, modality, input_tokens, cost_usd FROM usage").fetchall()
    assert got == [(awkward, "stt", 2**62, Decimal("1E-12"))]


def test_the_flusher_thread_writes_within_the_interval(tmp_path):
    spool = Spooler(tmp_path / "spool", flush_interval=0.05)
    spool.append(record(1))
    deadline = time.monotonic() + 5
    while spool.pending and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [line["input_tokens"] for line in spooled(tmp_path / "spool")] == [1]
    assert not list((tmp_path / "spool").glob("*.tmp"))
    spool.close()


def test_an_unwritable_spool_keeps_records_warns_once_and_recovers(tmp_path, caplog):
    blocked = tmp_path / "spool"
    blocked.write_text("a file where the spool directory should be")
    spool = Spooler(blocked, flush_interval=60)
    caplog.set_level(logging.WARNING, logger="voicegateway.ledger")
    for i in range(3):
        spool.append(record(i))
    for _ in range(3):
        assert spool.flush() == 0
    assert spool.pending == 3
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings
    assert str(blocked) in warnings[0] and "keeping 3 records in memory" in warnings[0]

    blocked.unlink()  # the operator fixes it
    spool.append(record(3))
    assert spool.flush() == 4
    assert "writable again; wrote 4 records" in caplog.records[-1].getMessage()
    report = Ledger(tmp_path / "usage.duckdb", blocked).ingest()
    assert (report.records, report.error) == (4, None)
    spool.close()


def test_past_the_memory_limit_new_records_are_dropped_and_counted(tmp_path, caplog):
    blocked = tmp_path / "spool"
    blocked.write_text("")
    spool = Spooler(blocked, flush_interval=60, max_pending=5)
    for i in range(8):
        spool.append(record(i))
    spool.flush()
    assert (spool.pending, spool.dropped) == (5, 3)
    assert any(r.levelno == logging.ERROR and "dropping" in r.getMessage() for r in caplog.records)
    blocked.unlink()
    assert spool.flush() == 5
    assert [line["input_tokens"] for line in spooled(blocked)] == [0, 1, 2, 3, 4]
    spool.close()


def test_a_forked_child_starts_empty_and_writes_only_its_own_records(tmp_path):
    spool = Spooler(tmp_path / "spool", flush_interval=0.05)
    for i in range(3):
        spool.append(record(i))
    pid = os.fork()
    if pid == 0:  # the child: nothing of the parent's, a flusher of its own
        ok = spool.pending == 0 and not spool.recent()
        spool.append(record(100))
        deadline = time.monotonic() + 5
        while spool.pending and time.monotonic() < deadline:
            time.sleep(0.01)
        os._exit(0 if ok and spool.pending == 0 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    spool.close()
    tokens = sorted(line["input_tokens"] for line in spooled(tmp_path / "spool"))
    assert tokens == [0, 1, 2, 100]
    names = {p.name.split("-")[0] for p in (tmp_path / "spool").glob("*.jsonl")}
    assert names == {str(os.getpid()), str(pid)}


def test_a_normal_exit_flushes_what_is_pending(tmp_path):
    code = f"""
from voicegateway.ledger.spool import Spooler
from voicegateway.records import UsageRecord
spool = Spooler({str(tmp_path / "spool")!r}, flush_interval=3600)
for i in range(5):
    spool.append(UsageRecord("c", "tts", "deepgram", "aura-2", "app", characters=i))
"""
    subprocess.run([sys.executable, "-c", code], check=True)
    assert [line["characters"] for line in spooled(tmp_path / "spool")] == [0, 1, 2, 3, 4]


def test_the_spool_imports_the_standard_library_only():
    code = (
        "import sys; before = set(sys.modules); import voicegateway.ledger.spool; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    new = out.stdout.split()
    ours = [m for m in new if m.startswith("voicegateway")]
    assert sorted(ours) == [
        "voicegateway",
        "voicegateway._lazy",
        "voicegateway._version",
        "voicegateway.ledger",
        "voicegateway.ledger.spool",
        "voicegateway.records",
    ]
    third_party = [m for m in new if m.split(".")[0] not in sys.stdlib_module_names]
    assert [m for m in third_party if not m.startswith("voicegateway")] == []


@pytest.fixture
def small_disk(tmp_path):
    """A real 4 MiB filesystem (tmpfs) that the test can fill up."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs (needs root): {mounted.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "--lazy", str(disk)], check=True)


def fill(path: Path) -> None:
    """Write ``path`` until its filesystem is full."""
    with open(path, "wb", buffering=0) as file, pytest.raises(OSError, match="No space left"):
        while True:
            file.write(b"\0" * 65536)


def test_a_disk_with_room_for_part_of_the_backlog_keeps_that_part(small_disk, tmp_path, caplog):
    spool_dir = small_disk / "spool"
    spool = Spooler(spool_dir, flush_interval=60)
    earlier = [record(i) for i in range(10)]
    for r in earlier:
        spool.append(r)
    assert spool.flush() == 10
    filler = small_disk / "filler"
    fill(filler)

    backlog = [record(100 + i, price_detail="x" * 400) for i in range(7510)]  # ~8 MB encoded
    for r in backlog:
        spool.append(r)
    with caplog.at_level(logging.WARNING, logger="voicegateway.ledger"):
        assert spool.flush() == 0  # the disk is full: everything waits in memory
        assert spool.pending == 7510
        os.truncate(filler, filler.stat().st_size - 2 * 2**20)  # 2 MB come back
        spool.close()  # what the atexit hook does

    files = sorted(spool_dir.glob("*.jsonl"))
    assert not list(spool_dir.glob("*.tmp"))
    assert all(path.stat().st_size <= MAX_FILE_BYTES for path in files)
    lines = spooled(spool_dir)  # every published line is whole JSON
    kept = len(lines) - len(earlier)
    assert [line["request_id"] for line in lines] == [
        r.request_id for r in [*earlier, *backlog[:kept]]
    ]  # the earlier file untouched, then the oldest of the backlog, in order
    published = sum(path.stat().st_size for path in files)
    assert published > 2 * 2**20 - 128 * 1024  # nearly all the room that came back was used
    assert spool.pending == 7510 - kept
    assert f"{7510 - kept} records held in memory are lost" in caplog.text

    report = Ledger(tmp_path / "usage.duckdb", spool_dir).ingest()
    assert (report.records, report.bad, report.waiting) == (len(lines), [], 0)
