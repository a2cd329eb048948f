"""Many job processes, one ledger: every process spools through a real ``Spooler`` while the CLI
reads and ``voicegw ingest --follow`` writes; every record lands exactly once, and a worker killed
with SIGKILL after its spool was flushed loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.slow  # writer, follower and reader processes

WORKER = """
import sys, time
from decimal import Decimal
from voicegateway.ledger.spool import Spooler
from voicegateway.records import UsageRecord

spool_dir, worker, n, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
interval = 0.05
spool = Spooler(spool_dir, flush_interval=interval)
for i in range(n):
    spool.append(UsageRecord(
        f"c{worker}-{i}", "llm", "openai", f"m{i % 3}", f"p{worker % 2}",
        request_id=f"w{worker}-{i}", input_tokens=i, cost_usd=Decimal("0.000001") * i,
    ))
    if i % 20 == 19:
        time.sleep(0.05)  # calls keep coming for a second while others ingest and read
for k in range(10):  # the same records from every worker: copies must land once
    spool.append(UsageRecord(
        "shared", "stt", "deepgram", "nova-3", "p0",
        request_id=f"shared-{k}", ts=1_790_000_000.0 + k, audio_seconds=1.5,
    ))
if end == "flush":
    spool.flush()
elif end == "interval":
    time.sleep(10 * interval)  # no explicit flush: the flusher thread's interval is the promise
if end != "exit":
    print("flushed", spool.pending, flush=True)
    time.sleep(120)  # until SIGKILL
"""


def voicegw(*args: str, cwd: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEGW_")}
    return subprocess.Popen(
        [sys.executable, "-m", "voicegateway.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def worker(spool_dir: Path, n: int, records: int, end: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(spool_dir), str(n), str(records), end],
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def storage(tmp_path) -> Path:
    (tmp_path / "voicegw.yaml").write_text(
        f"storage: {{path: {tmp_path / 'usage.duckdb'}, ingest_interval: 0.1}}\n"
    )
    return tmp_path


def test_six_writers_a_follower_and_readers_every_record_lands_once(storage):
    spool_dir = storage / "usage.duckdb.spool"
    follower = voicegw("ingest", "--follow", cwd=storage)
    deadline = time.monotonic() + 60
    while not (storage / "usage.duckdb").exists():  # its first ingest made the ledger: it runs
        assert follower.poll() is None and time.monotonic() < deadline, follower.stderr.read()
        time.sleep(0.05)
    workers = [worker(spool_dir, n, 400, "exit") for n in range(6)]
    reads = []
    while any(w.poll() is None for w in workers) or not reads:
        reader = voicegw("costs", "--by", "model", "--format", "json", cwd=storage)
        out, err = reader.communicate(timeout=60)
        assert reader.returncode == 0, err
        reads.append(sum(row["requests"] for row in json.loads(out)))
    assert all(w.wait(timeout=60) == 0 for w in workers)
    follower.send_signal(signal.SIGINT)
    follower_out, follower_err = follower.communicate(timeout=30)
    assert follower.returncode == 0, follower_err
    assert "ingested" in follower_out
    assert reads == sorted(reads)  # readers saw the ledger grow, never shrink
    print("requests seen by the readers while the workers ran:", reads)

    final = voicegw("costs", "--by", "model", "--format", "json", cwd=storage)
    out, err = final.communicate(timeout=60)
    rows = {row["model"]: row for row in json.loads(out)}
    assert sum(r["requests"] for r in rows.values()) == 6 * 400 + 10
    assert sum(r["input_tokens"] for r in rows.values()) == 6 * sum(range(400))
    assert rows["nova-3"]["stt_audio_seconds"] == "15"  # ten shared records, once each
    total = sum(Decimal(r["cost_usd"]) for r in rows.values() if r["cost_usd"])
    assert total == 6 * sum(Decimal("0.000001") * i for i in range(400))

    with duckdb.connect(str(storage / "usage.duckdb"), read_only=True) as con:
        count, distinct = con.execute(
            "SELECT count(*), count(DISTINCT request_id) FROM usage"
        ).fetchone()
    assert count == distinct == 6 * 400 + 10
    assert not list(spool_dir.glob("*.jsonl*"))


@pytest.mark.parametrize("end", ["flush", "interval"])
def test_a_worker_killed_after_its_spool_was_flushed_loses_nothing(storage, end):
    spool_dir = storage / "usage.duckdb.spool"
    proc = worker(spool_dir, 1, 300, end)
    assert proc.stdout.readline().split() == ["flushed", "0"]
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL

    ingest = voicegw("ingest", cwd=storage)
    out, err = ingest.communicate(timeout=60)
    assert ingest.returncode == 0, err
    assert out.startswith("ingested 310 records")
    with duckdb.connect(str(storage / "usage.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(DISTINCT request_id) FROM usage").fetchone() == (310,)


def test_the_cli_answers_while_a_worker_process_keeps_spooling(storage):
    """Reading needs no cooperation from job processes: they never open the database."""
    spool_dir = storage / "usage.duckdb.spool"
    proc = worker(spool_dir, 1, 50, "flush")
    try:
        assert proc.stdout.readline().startswith("flushed")
        start = time.monotonic()
        reader = voicegw("logs", "--limit", "3", "--format", "json", cwd=storage)
        out, err = reader.communicate(timeout=60)
        assert reader.returncode == 0, err
        assert len(json.loads(out)) == 3
        assert time.monotonic() - start < 30
    finally:
        proc.kill()
        proc.wait()
