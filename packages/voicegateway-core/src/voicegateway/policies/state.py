"""The policy state shared by every process of one machine: a SQLite database in WAL mode next to
the ledger (``<storage.path>.policies.sqlite``).

Budgets and rate limits are decided in one ``BEGIN IMMEDIATE`` transaction per admission, so the
processes of a machine take turns (about 0.2 ms each). The database holds:

- ``spend``: settled spend per key (project, provider, period), in integer nano-dollars;
- ``holds``: what admitted calls still hold: a budget reservation (its estimated cost) or an open
  stream (amount 1), each with the pid and the start time of the process that holds it;
- ``gcra``: the theoretical arrival time of each rate-limit key;
- ``events``: budget threshold crossings.

A hold whose process is gone (no such pid, or the pid was reused: its start time in /proc differs)
is released by :meth:`SharedState.reap`, which the policies call before they refuse anything and
at most once a second otherwise. So a process killed with SIGKILL never keeps a budget reserved or
a stream slot taken.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

NANO = Decimal("1e9")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (key TEXT PRIMARY KEY, settled INTEGER NOT NULL,
                                  updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS holds (id TEXT PRIMARY KEY, key TEXT NOT NULL, pid INTEGER NOT NULL,
                                  pstart INTEGER NOT NULL, amount INTEGER NOT NULL,
                                  created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS holds_key ON holds (key);
CREATE TABLE IF NOT EXISTS gcra (key TEXT PRIMARY KEY, tat REAL NOT NULL);
CREATE TABLE IF NOT EXISTS events (ts REAL NOT NULL, project TEXT NOT NULL, scope TEXT NOT NULL,
                                   threshold REAL NOT NULL, spend INTEGER NOT NULL,
                                   lim INTEGER NOT NULL, action TEXT NOT NULL);
"""


def to_nano(amount: Decimal | float | int) -> int:
    """Dollars as integer nano-dollars (sums stay exact in SQLite)."""
    return int(Decimal(amount) * NANO)


def from_nano(amount: int) -> Decimal:
    return Decimal(amount) / NANO


def process_start(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (/proc), 0 where /proc is missing, None
    when there is no such process (or it is a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return 0
    fields = data[data.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):  # a zombie has exited: only its parent has not reaped it yet
        return None
    return int(fields[19])


def state_path(storage) -> Path:
    """``<storage.path>.policies.sqlite``."""
    return storage.path.with_name(storage.path.name + ".policies.sqlite")


class SharedState:
    """One connection per process to the shared policy database (reopened after a fork)."""

    REAP_EVERY = 1.0

    def __init__(self, path: Path | str, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._con: sqlite3.Connection | None = None
        self._pid = -1
        self._pstart = 0
        self._last_reap = 0.0

    @classmethod
    def for_storage(cls, storage) -> SharedState:
        return cls(state_path(storage))

    def _connect(self) -> sqlite3.Connection:
        pid = os.getpid()
        if self._con is None or self._pid != pid:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            self._set_up(con)
            self._con, self._pid = con, pid
            self._pstart = process_start(pid) or 0
        return self._con

    def _set_up(self, con: sqlite3.Connection) -> None:
        """WAL mode and the schema. Processes starting together can find the file locked while
        another one switches it to WAL, and SQLite's busy handler does not cover that case:
        retry, with a little jitter, for as long as the connection's own timeout."""
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                con.execute("PRAGMA journal_mode=WAL")
                con.execute("PRAGMA synchronous=NORMAL")
                con.executescript(_SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01 + random.random() * 0.04)

    @property
    def owner(self) -> tuple[int, int]:
        """(pid, process start time) that this process's holds carry."""
        self._connect()
        return self._pid, self._pstart

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on an exception)."""
        with self._lock:
            con = self._connect()
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    # -- inside a transaction --------------------------------------------------------------------

    def reap(self, con: sqlite3.Connection, *, force: bool = True) -> int:
        """Release the holds of dead processes; how many. Unless ``force``, at most once a
        second per process."""
        now = time.monotonic()
        if not force and now - self._last_reap < self.REAP_EVERY:
            return 0
        self._last_reap = now
        dead = [
            (pid, pstart)
            for pid, pstart in con.execute("SELECT DISTINCT pid, pstart FROM holds")
            if (pid, pstart) != (self._pid, self._pstart) and not _alive(pid, pstart)
        ]
        released = 0
        for pid, pstart in dead:
            released += con.execute(
                "DELETE FROM holds WHERE pid = ? AND pstart = ?", (pid, pstart)
            ).rowcount
        return released

    def settled(self, con: sqlite3.Connection, key: str) -> int | None:
        row = con.execute("SELECT settled FROM spend WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def held(self, con: sqlite3.Connection, key: str) -> int:
        row = con.execute("SELECT sum(amount) FROM holds WHERE key = ?", (key,)).fetchone()
        return row[0] or 0

    def count_holds(self, con: sqlite3.Connection, key: str) -> int:
        return con.execute("SELECT count(*) FROM holds WHERE key = ?", (key,)).fetchone()[0]

    def hold(self, con: sqlite3.Connection, hold_id: str, key: str, amount: int) -> None:
        con.execute(
            "INSERT OR REPLACE INTO holds VALUES (?, ?, ?, ?, ?, ?)",
            (hold_id, key, self._pid, self._pstart, amount, time.time()),
        )

    def add_spend(self, con: sqlite3.Connection, key: str, amount: int) -> int:
        """Add ``amount`` to the settled spend of ``key`` (0 when new); the new total."""
        row = con.execute(
            "INSERT INTO spend VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE "
            "SET settled = settled + excluded.settled, updated = excluded.updated "
            "RETURNING settled",
            (key, amount, time.time()),
        ).fetchone()
        return row[0]

    def init_spend(self, con: sqlite3.Connection, key: str, amount: int) -> None:
        con.execute("INSERT OR IGNORE INTO spend VALUES (?, ?, ?)", (key, amount, time.time()))

    def shrink_hold(self, con: sqlite3.Connection, hold_id: str, amount: int) -> None:
        con.execute("UPDATE holds SET amount = max(0, amount - ?) WHERE id = ?", (amount, hold_id))

    def release(self, con: sqlite3.Connection, hold_ids: list[str]) -> None:
        con.executemany("DELETE FROM holds WHERE id = ?", [(i,) for i in hold_ids])

    def tat(self, con: sqlite3.Connection, key: str) -> float | None:
        row = con.execute("SELECT tat FROM gcra WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_tat(self, con: sqlite3.Connection, key: str, tat: float) -> None:
        con.execute("INSERT OR REPLACE INTO gcra VALUES (?, ?)", (key, tat))

    # -- reading ---------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, tuple[int, int]]:
        """Every spend key: (settled, held), for reports."""
        with self.transaction() as con:
            self.reap(con)
            spend = dict(con.execute("SELECT key, settled FROM spend"))
            held = dict(con.execute("SELECT key, sum(amount) FROM holds GROUP BY key"))
        return {key: (spend.get(key, 0), held.get(key) or 0) for key in spend.keys() | held.keys()}

    def close(self) -> None:
        with self._lock:
            if self._con is not None and self._pid == os.getpid():
                self._con.close()
            self._con = None


def _alive(pid: int, pstart: int) -> bool:
    start = process_start(pid)
    if start is None:
        return False
    return pstart == 0 or start == 0 or start == pstart
