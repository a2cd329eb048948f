"""The write side of the ledger: one process at a time opens the DuckDB file, and moves the spool
files that job processes published into it.

DuckDB lets one process open a file read-write, and no other process may even read it meanwhile.
So every opener (``voicegw ingest``, each query command, the dashboard) first takes an exclusive
``flock`` on ``<db>.lock``, waiting up to a timeout, opens the file, works, closes it and releases
the lock: many short sessions instead of one long-lived owner, so readers and the ingester take
turns and job processes, which only write spool files, never wait at all.

An ingest moves every ready spool file in one transaction: DuckDB's JSON reader parses them (never
a Python loop or a row-by-row INSERT), their names go to ``ingested_files`` in the same
transaction, and only after the commit are they deleted. A crash between the commit and the
deletes leaves files whose names are known: the next ingest deletes them without reading them.
Copies of a record (same ``request_id``) are removed in the same transaction, so every record
lands exactly once. A malformed file is moved to ``<spool>/bad/`` and never blocks the others.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from voicegateway.errors import VoiceGatewayError
from voicegateway.ledger import migrations
from voicegateway.ledger.schema import COLUMN_TYPES, literal, one_row, spool_select

log = logging.getLogger("voicegateway.ledger")

MAX_FILES = 2000
"""Spool files per transaction: a backlog (the database was locked for an hour) lands in several
commits instead of one huge one."""
KEEP_INGESTED_NAMES = "7 days"
"""How long ``ingested_files`` remembers a name. Names matter only while their file might still
exist (the commit happened, the delete did not); past that, the request_id dedup still holds."""
STALE_TMP_SECONDS = 3600
"""A ``.tmp`` spool file this old belongs to a writer that died mid-write: it goes to ``bad/``."""


class _NotFinite(ValueError):
    """A spool line holds NaN or Infinity (JSON extensions DuckDB reads) for a number: no
    spooler writes one (it writes null), and one in the ledger would poison every sum."""


_DATA_ERRORS = (
    duckdb.InvalidInputException,
    duckdb.ConversionException,
    duckdb.ConstraintException,
    _NotFinite,
)
"""What a malformed spool file raises (bad JSON, a value of the wrong type, no request_id, a
number that is not finite), as opposed to a lock, a full disk or a broken database, which leave
every file waiting."""

_FLOATS = tuple(name for name, sql in COLUMN_TYPES.items() if sql == "DOUBLE")
_BATCH_FACTS = (
    "SELECT min(ts), max(ts), "
    + ", ".join(f"count(*) FILTER (WHERE NOT isfinite({name}))" for name in _FLOATS)
    + " FROM records WHERE ingested_at = now()"
)
"""The new batch's ``ts`` range, and per DOUBLE column how many of its rows are NaN or ±inf."""

_DEDUP = """
DELETE FROM records WHERE rowid IN (
    SELECT rowid FROM (
        SELECT rowid, row_number() OVER (PARTITION BY request_id ORDER BY ingested_at, rowid) AS n
        FROM records
        WHERE ts BETWEEN $lo AND $hi AND request_id IN (
            SELECT request_id FROM records WHERE ts BETWEEN $lo AND $hi
            GROUP BY request_id HAVING count(*) > 1))
    WHERE n > 1)
"""
"""Keeps the first row of each request_id among the rows whose ``ts`` falls in the new batch's
range. A copy of a record carries the record's own ``ts``, so it is always in that range; the
range keeps the check at ~20 ms however large the ledger grows (a whole-table check costs
~300 ms per ingest at 10M rows, and a PRIMARY KEY halves the ingest rate and triples the file)."""


class LedgerBusy(VoiceGatewayError):
    """Another process held the ledger for longer than the timeout."""

    bad_input = False


@dataclass
class IngestReport:
    """What one ingest did."""

    files: int = 0
    """Spool files ingested (and deleted)."""
    records: int = 0
    """Rows added to the ledger."""
    duplicates: int = 0
    """Copies of records already in the ledger (same request_id), not added."""
    bad: list[Path] = field(default_factory=list)
    """Malformed spool files, moved to ``bad/``."""
    waiting: int = 0
    """Spool files left for a later ingest."""
    error: str | None = None
    """Why files were left: the ledger was locked, unreachable, or its disk full."""


class Ledger:
    """The DuckDB file at ``path`` and the spool directory feeding it."""

    on_batch: Callable[[int, int], None] | None = None
    """Called after each batch of an ingest with (files in the batch, files ready in all): a
    command's progress indicator over a large backlog."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        spool_dir: str | os.PathLike[str] | None = None,
        *,
        timezone: str = "UTC",
        lock_timeout: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self.spool_dir = (
            Path(spool_dir) if spool_dir else self.path.with_name(self.path.name + ".spool")
        )
        self.timezone = timezone
        self.lock_timeout = lock_timeout
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._failing: str | None = None

    @classmethod
    def from_config(cls, storage, **kwargs) -> Ledger:
        """The ledger a voicegw.yaml's ``storage:`` describes (a ``StorageConfig``)."""
        return cls(storage.path, storage.spool_dir, timezone=storage.timezone, **kwargs)

    @contextmanager
    def open(
        self, *, ingest: bool = True, timeout: float | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection, held under the ledger's lock until the block ends.

        The schema is brought up to date first, then (``ingest``) pending spool files are
        ingested, so what the block reads is fresh; an ingest that fails is logged and the block
        reads what is there. Raises :class:`LedgerBusy` when the lock stays taken ``timeout``
        seconds (default ``lock_timeout``)."""
        deadline = time.monotonic() + (self.lock_timeout if timeout is None else timeout)
        with self._locked(deadline):
            con = self._connect(deadline)
            try:
                migrations.migrate(con)
                con.execute(f"SET TimeZone = {literal(self.timezone)}")
                if ingest:
                    self._ingest_logged(con)
                    self._policy_state(con, "seed")
                yield con
            finally:
                con.close()

    def ingest(self, *, timeout: float | None = None) -> IngestReport:
        """Move every ready spool file into the ledger. Never raises for a lock, an unreachable
        database or a full disk: the files wait, the report says why, a warning is logged once."""
        try:
            with self.open(ingest=False, timeout=timeout) as con:
                report = self._ingest_logged(con)
                self._policy_state(con, "seed")
                return report
        except (LedgerBusy, OSError, duckdb.Error) as exc:
            return self._waiting(exc, IngestReport())

    def pending_files(self) -> list[Path]:
        """Published spool files not yet ingested, oldest writer first. Only regular files: a
        directory or a symbolic link named ``*.jsonl`` is no spool file (ingest sets it aside)."""
        try:
            return sorted(p for p in self.spool_dir.glob("*.jsonl") if _file_kind(p) is None)
        except OSError:
            return []

    # -- lock and connection -----------------------------------------------------------------

    @contextmanager
    def _locked(self, deadline: float) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise LedgerBusy(
                            f"the usage ledger {self.path} is locked by another process "
                            f"({self.lock_path})"
                        ) from None
                    time.sleep(0.02)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _connect(self, deadline: float) -> duckdb.DuckDBPyConnection:
        """Open the file; a process that does not use our lock (a DuckDB shell) may still hold
        it, so lock conflicts are retried until the deadline."""
        while True:
            try:
                return duckdb.connect(str(self.path))
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    # -- ingest --------------------------------------------------------------------------------

    def _ingest_logged(self, con: duckdb.DuckDBPyConnection) -> IngestReport:
        report = IngestReport()
        try:
            self._ingest(con, report)
        except (OSError, duckdb.Error) as exc:
            return self._waiting(exc, report)
        if self._failing is not None:
            log.warning("usage ledger %s is writable again: ingest resumed", self.path)
            self._failing = None
        return report

    def _waiting(self, exc: BaseException, report: IngestReport) -> IngestReport:
        report.error = str(exc).splitlines()[0]
        report.waiting = len(self.pending_files())
        if self._failing != report.error:
            log.warning(
                "usage ledger %s cannot be written (%s): %d spool files wait in %s and will be "
                "ingested later",
                self.path,
                report.error,
                report.waiting,
                self.spool_dir,
            )
        self._failing = report.error
        return report

    def _ingest(self, con: duckdb.DuckDBPyConnection, report: IngestReport) -> None:
        self._sweep_stale_tmp()
        self._set_aside_strays(report)
        ready = self.pending_files()
        if ready:
            done = {
                name
                for (name,) in con.execute(
                    "SELECT name FROM ingested_files WHERE name IN (SELECT unnest($1::VARCHAR[]))",
                    [[p.name for p in ready]],
                ).fetchall()
            }
            _unlink_all(p for p in ready if p.name in done)  # committed before; delete missed
            ready = [p for p in ready if p.name not in done]
        for start in range(0, len(ready), MAX_FILES):
            batch = ready[start : start + MAX_FILES]
            try:
                self._commit(con, batch, report)
            except _DATA_ERRORS:
                for path in batch:  # find the malformed file(s): one transaction each
                    try:
                        self._commit(con, [path], report)
                    except _DATA_ERRORS as exc:
                        self._set_aside(path, exc, report)
            if self.on_batch is not None:
                self.on_batch(len(batch), len(ready))
        report.waiting = len(self.pending_files())

    def _commit(
        self, con: duckdb.DuckDBPyConnection, files: list[Path], report: IngestReport
    ) -> None:
        con.execute("BEGIN")
        try:
            (added,) = one_row(con.execute(spool_select(), [[str(p) for p in files]]))
            lo, hi, *not_finite = one_row(con.execute(_BATCH_FACTS))
            if any(not_finite):
                columns = ", ".join(c for c, n in zip(_FLOATS, not_finite, strict=True) if n)
                raise _NotFinite(
                    f"{max(not_finite)} line(s) hold NaN or Infinity in {columns}: a number in a "
                    "spool line must be finite (a spooler writes null for an unknown one)"
                )
            (copies,) = one_row(con.execute(_DEDUP, {"lo": lo, "hi": hi})) if added else (0,)
            con.execute(
                "INSERT INTO ingested_files SELECT unnest($1::VARCHAR[]), now()",
                [[p.name for p in files]],
            )
            con.execute(
                f"DELETE FROM ingested_files WHERE ingested_at < now() - INTERVAL "
                f"'{KEEP_INGESTED_NAMES}'"
            )
            if added:
                self._policy_state(con, "count_ingested")
            con.execute("COMMIT")
        except BaseException:
            _rollback(con)
            raise
        _unlink_all(files)
        report.files += len(files)
        report.records += added - copies
        report.duplicates += copies

    def _policy_state(self, con: duckdb.DuckDBPyConnection, step: str) -> None:
        """Keep the policy state (``<path>.policies.sqlite``) in step with what was ingested
        (:mod:`.policy_sync`). Its failure never stops an ingest: budgets that cannot trust
        the state refuse on their side."""
        from voicegateway.ledger import policy_sync

        state_file = self.path.with_name(self.path.name + ".policies.sqlite")
        try:
            getattr(policy_sync, step)(con, state_file, self.timezone)
        except Exception as exc:
            log.warning(
                "the policy state %s was not updated by this ingest (%s): budgets that need it "
                "refuse until an ingest succeeds",
                state_file,
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )

    def _set_aside(self, path: Path, exc: BaseException, report: IngestReport) -> None:
        bad = self.spool_dir / "bad"
        bad.mkdir(exist_ok=True)
        os.replace(path, bad / path.name)
        report.bad.append(bad / path.name)
        log.error(
            "usage spool file %s is malformed and was moved to %s/: %s",
            path.name,
            bad,
            str(exc).splitlines()[0],
        )

    def _set_aside_strays(self, report: IngestReport) -> None:
        """Move to ``bad/`` whatever is named ``*.jsonl`` but is no regular file: DuckDB cannot
        read a directory or a dangling link, and a link may point anywhere. Left in place, the
        first made every ingest fail, so no spool file ever landed again."""
        for path in self.spool_dir.glob("*.jsonl"):
            kind = _file_kind(path)
            if kind is None:
                continue
            try:
                self._set_aside(path, ValueError(f"it is {kind}, not a spool file"), report)
            except OSError as exc:  # ignored by pending_files either way
                log.error(
                    "%s in %s is %s, not a spool file; ignored: %s",
                    path.name,
                    self.spool_dir,
                    kind,
                    exc,
                )

    def _sweep_stale_tmp(self) -> None:
        cutoff = time.time() - STALE_TMP_SECONDS
        for path in self.spool_dir.glob("*.jsonl.tmp"):
            try:
                if path.stat().st_mtime < cutoff:
                    (self.spool_dir / "bad").mkdir(exist_ok=True)
                    os.replace(path, self.spool_dir / "bad" / path.name)
                    log.warning(
                        "usage spool file %s was never finished (its writer died while "
                        "writing); moved to bad/",
                        path.name,
                    )
            except FileNotFoundError:
                continue


def _file_kind(path: Path) -> str | None:
    """None for a regular file (or one gone meanwhile), else what ``path`` is instead."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link" + ("" if path.exists() else " to nothing")
    return "a directory" if stat.S_ISDIR(mode) else "not a regular file"


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # a failed COMMIT has already rolled back
        con.execute("ROLLBACK")


def _unlink_all(paths) -> None:
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:  # the name is in ingested_files: the next ingest retries
            log.warning("could not delete ingested spool file %s: %s", path, exc)
