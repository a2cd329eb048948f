"""Long-running commands show progress on stderr when it is a terminal (a real pseudo-terminal
here), and print nothing extra when it is piped."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from voicegateway.cli.progress import Progress
from voicegateway.ledger.spool import Spooler
from voicegateway.records import UsageRecord

from .conftest import voicegw


def read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def voicegw_on_a_terminal(*args: str, cwd: Path) -> tuple[int, str, str]:
    """Run ``voicegw ARGS`` with stderr on a pseudo-terminal: (status, stdout, the terminal)."""
    primary, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEGW_")}
    with subprocess.Popen(
        [sys.executable, "-m", "voicegateway.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=secondary,
        text=True,
        env=env,
    ) as process:
        os.close(secondary)
        terminal = read_all(primary)  # until the process closes its end
        out = process.stdout.read()
    os.close(primary)
    return process.returncode, out, terminal


@pytest.fixture
def backlog(tmp_path) -> Path:
    """A voicegw.yaml and a spool of several files no ingest has read yet."""
    (tmp_path / "voicegw.yaml").write_text(f"storage: {{path: {tmp_path / 'usage.duckdb'}}}\n")
    for n in range(3):
        spool = Spooler(tmp_path / "usage.duckdb.spool")
        spool.append(UsageRecord(f"c{n}", "llm", "openai", "gpt-4o-mini", "app", input_tokens=n))
        spool.close()
    return tmp_path


def test_the_indicator_draws_on_a_terminal_only():
    primary, secondary = pty.openpty()
    with (
        os.fdopen(secondary, "w") as terminal,
        Progress("ingesting", 4, unit="files", stream=terminal) as progress,
    ):
        progress.advance(2)
        assert progress.text().startswith("ingesting 2/4 files (50%), ")
    drawn = read_all(primary)
    os.close(primary)
    assert drawn.startswith("\ringesting 0/4 files (0%), 0 s")
    assert drawn.endswith("\r")  # erased: what follows starts on a clean line
    piped = io.StringIO()
    with Progress("ingesting", 4, stream=piped) as progress:
        progress.advance(4)
    assert piped.getvalue() == ""


def test_ingest_of_a_backlog_shows_progress_on_a_terminal_and_nothing_when_piped(backlog):
    status, out, terminal = voicegw_on_a_terminal("ingest", cwd=backlog)
    assert status == 0
    assert out == "ingested 3 records from 3 spool files\n"
    assert "ingesting spooled usage 0/3 files (0%)" in terminal

    for n in range(2):
        spool = Spooler(backlog / "usage.duckdb.spool")
        spool.append(UsageRecord(f"d{n}", "llm", "openai", "gpt-4o-mini", "app"))
        spool.close()
    piped = voicegw("ingest", cwd=backlog, home=False)
    assert piped.returncode == 0
    assert (piped.stdout, piped.stderr) == ("ingested 2 records from 2 spool files\n", "")


def test_export_shows_it_is_under_way_on_a_terminal_only(backlog):
    status, out, terminal = voicegw_on_a_terminal("export", "usage.csv", cwd=backlog)
    assert status == 0 and out == "wrote 3 records to usage.csv (csv)\n"
    assert "\rexporting to usage.csv, 0 s" in terminal
    piped = voicegw("export", "again.csv", cwd=backlog, home=False)
    assert (piped.returncode, piped.stderr) == (0, "")
    assert piped.stdout == "wrote 3 records to again.csv (csv)\n"


def large_export(directory: Path, rows: int) -> Path:
    """A generic-format CSV of ``rows`` billed lines over three days."""
    path = directory / "usage-export.csv"
    lines = ["provider,model,day,leg,input_tokens,cost_usd"]
    lines += [f"openai,gpt-4o-mini,2026-11-0{2 + n % 3},llm,{n},0.000001" for n in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_reconcile_of_large_exports_shows_each_file_on_a_terminal_only(backlog):
    large_export(backlog, 20_000)
    (backlog / "small.csv").write_text(
        "provider,model,day,leg,input_tokens\nopenai,gpt-4o-mini,2026-11-05,llm,7\n"
    )
    files = ("usage-export.csv", "small.csv")
    status, out, terminal = voicegw_on_a_terminal("reconcile", *files, cwd=backlog)
    assert "\rreading usage-export.csv (1 of 2), 0 s" in terminal
    assert "\rreading small.csv (2 of 2), 0 s" in terminal
    assert terminal.endswith("\r")  # erased before anything else is written
    assert "openai" in out and "rows flagged" in out

    piped = voicegw("reconcile", *files, cwd=backlog, home=False)
    assert (piped.returncode, piped.stdout, piped.stderr) == (status, out, "")
