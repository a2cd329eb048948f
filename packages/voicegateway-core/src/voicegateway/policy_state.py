"""The policy state shared by every process of one machine: a SQLite database in WAL mode next to
the ledger (``<storage.path>.policies.sqlite``), the source of truth for settled spend.

Only background threads use it (a job's policy worker, the ledger's ingest, the CLI): never the
agent's event loop. It holds:

- ``meta``: the schema version, when the file was created, and whether its spend has been seeded
  from the ledger (``seeded``: ``ledger`` or ``empty``, when there was no ledger to read);
- ``settled``: one row per usage record whose cost is counted, by ``request_id``, so a record a job
  settled and the ledger later ingests (or the other way round) is counted once;
- ``spend_day`` and ``spend_session``: the settled spend of every project and provider per
  calendar day (in ``storage.timezone``) and per session, in integer nano-dollars (exact sums);
- ``holds``: what admitted calls still hold: a process's budget lease, one row per open stream
  for ``concurrent`` limits, each with the pid and start time of its process;
- ``gcra``: each rate-limit key's theoretical arrival time;
- ``events``: budget threshold crossings, one row per (project, limit and period, threshold): the
  process whose insert lands is the one that warns and notifies;
- ``outputs``: the output tokens of recent LLM calls per model, for reservations.

A hold whose process is gone (no such pid, or the pid was reused: its start time in /proc differs)
is released by :meth:`SharedState.reap`. A file that is not such a database raises
a :class:`PolicyStateError`, which names the file and how to rebuild it.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from voicegateway.errors import VoiceGatewayError

if TYPE_CHECKING:
    from voicegateway.config.schema import StorageConfig


class PolicyStateError(VoiceGatewayError):
    """The policy state file cannot be used (corrupt, not ours, a newer schema)."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        super().__init__(f"policy state {path}: {what}")


NANO = Decimal("1e9")
SCHEMA = "2"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settled (request_id TEXT PRIMARY KEY, ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS settled_ts ON settled (ts);
CREATE TABLE IF NOT EXISTS spend_day (project TEXT NOT NULL, provider TEXT NOT NULL,
    day TEXT NOT NULL, settled INTEGER NOT NULL, PRIMARY KEY (project, provider, day));
CREATE TABLE IF NOT EXISTS spend_session (project TEXT NOT NULL, provider TEXT NOT NULL,
    session TEXT NOT NULL, settled INTEGER NOT NULL, updated REAL NOT NULL,
    PRIMARY KEY (project, provider, session));
CREATE TABLE IF NOT EXISTS holds (id TEXT PRIMARY KEY, key TEXT NOT NULL, pid INTEGER NOT NULL,
    pstart INTEGER NOT NULL, amount INTEGER NOT NULL, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS holds_key ON holds (key);
CREATE TABLE IF NOT EXISTS gcra (key TEXT PRIMARY KEY, tat REAL NOT NULL);
CREATE TABLE IF NOT EXISTS events (ts REAL NOT NULL, project TEXT NOT NULL, scope TEXT NOT NULL,
    threshold REAL NOT NULL, spend INTEGER NOT NULL, lim INTEGER NOT NULL, action TEXT NOT NULL,
    UNIQUE (project, scope, threshold));
CREATE TABLE IF NOT EXISTS outputs (model TEXT NOT NULL, ts REAL NOT NULL, tokens INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS outputs_model ON outputs (model, ts);
"""

_OURS = frozenset(
    ("meta", "settled", "spend_day", "spend_session", "holds", "gcra", "events", "outputs")
) | {"spend"}  # the 0.1 state's table, dropped when it is opened
"""The tables a policy state may hold; any other makes the file another program's."""

KEEP_SETTLED_IDS = 3 * 86400.0
"""How long a settled record's id is kept: an ingest more than this late finds no id and takes
the record as already counted by its job (docs/policies.md, "The shared state")."""

OUTPUT_SAMPLES = 200
"""Recent LLM calls kept per model for the output-token estimate."""


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


def state_path(storage: StorageConfig) -> Path:
    """``<storage.path>.policies.sqlite``."""
    return storage.path.with_name(storage.path.name + ".policies.sqlite")


class SharedState:
    """One connection per process and thread user to the shared policy database (reopened after
    a fork, or when the file was replaced). ``timeout`` bounds every wait for another process's
    transaction."""

    REAP_EVERY = 1.0

    def __init__(self, path: Path | str, *, timeout: float = 2.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._con: sqlite3.Connection | None = None
        self._pid = -1
        self._pstart = 0
        self._inode: int | None = None
        self._last_reap = 0.0
        self.created: float = 0.0
        """When the file was created (epoch seconds)."""

    @classmethod
    def for_storage(cls, storage, **kwargs) -> SharedState:
        return cls(state_path(storage), **kwargs)

    def _connect(self) -> sqlite3.Connection:
        pid = os.getpid()
        if self._con is None or self._pid != pid:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            try:
                self._set_up(con)
            except sqlite3.DatabaseError as exc:
                con.close()
                raise self._unusable(exc) from None
            self._con, self._pid = con, pid
            self._pstart = process_start(pid) or 0
            self._inode = _inode(self.path)
        return self._con

    def _unusable(self, exc: BaseException) -> PolicyStateError:
        return PolicyStateError(
            self.path,
            f"{str(exc).splitlines()[0]}. Move it aside (mv {self.path} {self.path}.bad); the "
            "next `voicegw ingest` rebuilds it from the ledger, and `block` budgets refuse calls "
            "until then",
        )

    def _set_up(self, con: sqlite3.Connection) -> None:
        """WAL mode and the schema. Processes starting together can find the file locked while
        another one switches it to WAL, and SQLite's busy handler does not cover that case:
        retry, with a little jitter, for as long as the connection's own timeout."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                tables = {
                    name
                    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
                }
                if tables - _OURS:  # another program's database: never write into it
                    raise sqlite3.DatabaseError(
                        "not a VoiceGateway policy state (it has tables "
                        + ", ".join(sorted(tables - _OURS)[:5])
                        + ")"
                    )
                con.execute("PRAGMA journal_mode=WAL")
                con.execute("PRAGMA synchronous=NORMAL")
                old_state = "spend" in tables
                con.executescript(_SCHEMA)
                con.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema', ?), ('created', ?)",
                    (SCHEMA, repr(time.time())),
                )
                meta = dict(con.execute("SELECT k, v FROM meta"))
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01 + random.random() * 0.04)
        if meta.get("schema") != SCHEMA:
            raise sqlite3.DatabaseError(
                f"policy state schema {meta.get('schema')!r}, this version uses {SCHEMA!r}"
            )
        if old_state:  # a 0.1 state: its spend is seeded again from the ledger
            con.execute("DROP TABLE spend")
        self.created = float(meta["created"])

    def replaced(self) -> bool:
        """Whether the file this process has open was deleted or replaced since (its spend is
        then in another file: reconnect)."""
        return self._con is not None and _inode(self.path) != self._inode

    @property
    def owner(self) -> tuple[int, int]:
        """(pid, process start time) that this process's holds carry."""
        self._connect()
        return self._pid, self._pstart

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on an exception). Waits at most
        ``timeout`` for another process's transaction; an unusable file raises
        :class:`PolicyStateError`."""
        with self._lock:
            con = self._connect()
            try:
                con.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                    raise
                raise self._unusable(exc) from None
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            try:
                con.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                raise self._unusable(exc) from None

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

    def meta(self, con: sqlite3.Connection, key: str) -> str | None:
        row = con.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, con: sqlite3.Connection, key: str, value: str) -> None:
        con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def settle(
        self,
        con: sqlite3.Connection,
        records: Iterable[tuple[str, float, str, str, str, str | None, int]],
    ) -> list[tuple[str, str, str, str | None, int]]:
        """Count each record's cost once: ``(request_id, ts, project, provider, day, session,
        nano-dollars)``. Returns what was newly counted, as (project, provider, day, session,
        amount); a record already counted (by its job, or by an earlier ingest) is skipped."""
        counted = []
        for request_id, ts, project, provider, day, session, amount in records:
            if not con.execute(
                "INSERT OR IGNORE INTO settled VALUES (?, ?)", (request_id, ts)
            ).rowcount:
                continue
            self.add_spend(con, project, provider, day, session, amount)
            counted.append((project, provider, day, session, amount))
        return counted

    def add_spend(
        self,
        con: sqlite3.Connection,
        project: str,
        provider: str,
        day: str,
        session: str | None,
        amount: int,
    ) -> None:
        con.execute(
            "INSERT INTO spend_day VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE "
            "SET settled = settled + excluded.settled",
            (project, provider, day, amount),
        )
        if session:
            con.execute(
                "INSERT INTO spend_session VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE "
                "SET settled = settled + excluded.settled, updated = excluded.updated",
                (project, provider, session, amount, time.time()),
            )

    def spent(
        self, con: sqlite3.Connection, project: str, provider: str | None, period: str
    ) -> int:
        """Settled spend of ``project`` (on ``provider``, or all) in ``period``: ``day:<date>``,
        ``month:<YYYY-MM>`` or ``session:<id>``."""
        kind, _, value = period.partition(":")
        who = "" if provider is None else " AND provider = ?"
        args: tuple[str, ...] = (project,) if provider is None else (project, provider)
        if kind == "session":
            sql = f"SELECT sum(settled) FROM spend_session WHERE project = ?{who} AND session = ?"
        elif kind == "month":
            sql = f"SELECT sum(settled) FROM spend_day WHERE project = ?{who} AND day LIKE ?"
            value += "-%"
        else:
            sql = f"SELECT sum(settled) FROM spend_day WHERE project = ?{who} AND day = ?"
        return con.execute(sql, (*args, value)).fetchone()[0] or 0

    def held(self, con: sqlite3.Connection, key: str) -> int:
        row = con.execute("SELECT sum(amount) FROM holds WHERE key = ?", (key,)).fetchone()
        return row[0] or 0

    def count_holds(self, con: sqlite3.Connection, key: str) -> int:
        return int(con.execute("SELECT count(*) FROM holds WHERE key = ?", (key,)).fetchone()[0])

    def hold(self, con: sqlite3.Connection, hold_id: str, key: str, amount: int) -> None:
        con.execute(
            "INSERT OR REPLACE INTO holds VALUES (?, ?, ?, ?, ?, ?)",
            (hold_id, key, self._pid, self._pstart, amount, time.time()),
        )

    def grow_hold(self, con: sqlite3.Connection, hold_id: str, key: str, amount: int) -> None:
        """Add ``amount`` (may be negative; never below 0) to a hold of this process."""
        if not con.execute(
            "UPDATE holds SET amount = max(0, amount + ?) WHERE id = ?", (amount, hold_id)
        ).rowcount:
            self.hold(con, hold_id, key, max(0, amount))

    def hold_amount(self, con: sqlite3.Connection, hold_id: str) -> int | None:
        row = con.execute("SELECT amount FROM holds WHERE id = ?", (hold_id,)).fetchone()
        return None if row is None else row[0]

    def release(self, con: sqlite3.Connection, hold_ids: list[str]) -> None:
        con.executemany("DELETE FROM holds WHERE id = ?", [(i,) for i in hold_ids])

    def event(
        self,
        con: sqlite3.Connection,
        project: str,
        scope: str,
        threshold: float,
        spend: int,
        limit: int,
        action: str,
    ) -> bool:
        """Record a threshold crossing; False when another process already recorded it."""
        return bool(
            con.execute(
                "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                (time.time(), project, scope, threshold, spend, limit, action),
            ).rowcount
        )

    def add_outputs(self, con: sqlite3.Connection, samples: list[tuple[str, int]]) -> None:
        now = time.time()
        con.executemany("INSERT INTO outputs VALUES (?, ?, ?)", [(m, now, t) for m, t in samples])
        for model in {m for m, _ in samples}:
            con.execute(
                "DELETE FROM outputs WHERE model = ? AND ts < (SELECT min(ts) FROM (SELECT ts "
                "FROM outputs WHERE model = ? ORDER BY ts DESC LIMIT ?))",
                (model, model, OUTPUT_SAMPLES),
            )

    def outputs(self, con: sqlite3.Connection, model: str) -> list[int]:
        return [
            t
            for (t,) in con.execute(
                "SELECT tokens FROM outputs WHERE model = ? ORDER BY ts DESC LIMIT ?",
                (model, OUTPUT_SAMPLES),
            )
        ]

    def prune(self, con: sqlite3.Connection) -> None:
        con.execute("DELETE FROM settled WHERE ts < ?", (time.time() - KEEP_SETTLED_IDS,))
        con.execute("DELETE FROM spend_session WHERE updated < ?", (time.time() - 40 * 86400,))

    def tat(self, con: sqlite3.Connection, key: str) -> float | None:
        row = con.execute("SELECT tat FROM gcra WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_tat(self, con: sqlite3.Connection, key: str, tat: float) -> None:
        con.execute("INSERT OR REPLACE INTO gcra VALUES (?, ?)", (key, tat))

    # -- reading ---------------------------------------------------------------------------------

    def holds_by_key(self) -> dict[str, int]:
        """What is held per key (reservations and leases), for reports."""
        with self.transaction() as con:
            self.reap(con)
            return dict(con.execute("SELECT key, sum(amount) FROM holds GROUP BY key"))

    def close(self) -> None:
        with self._lock:
            if self._con is not None and self._pid == os.getpid():
                self._con.close()
            self._con = None


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _alive(pid: int, pstart: int) -> bool:
    start = process_start(pid)
    if start is None:
        return False
    return pstart == 0 or start == 0 or start == pstart
