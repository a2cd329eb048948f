"""The ledger side of the policy state: what the ingest committed, counted once in the state.

Job processes write the spend they settle into the policy state themselves; this keeps the
state in step with the ledger for everything else, in the ingest's own step:

- :func:`count_ingested`: inside the ingest's DuckDB transaction, before its commit, every new
  record with a cost is counted in the state (by its ``request_id``; one its job already counted
  is skipped). Should the DuckDB commit fail, the files are ingested again later and find their
  ids counted: nothing is counted twice.
- :func:`seed`: a state that has never been seeded (new, deleted, or a state file from before
  this version) gets the spend of every record of the current and previous month that it does
  not count yet; until then ``block`` budgets refuse (fail closed).

Called from :mod:`.writer` (the ingest) with its DuckDB connection; the state is
:mod:`voicegateway.policy_state`, a layer below the ledger.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from voicegateway.policy_state import KEEP_SETTLED_IDS, SharedState, to_nano

log = logging.getLogger("voicegateway.policies")

_ROWS = (
    "SELECT request_id, epoch(ts), project, provider, strftime(ts AT TIME ZONE $zone, '%Y-%m-%d'), "
    "session_id, cost_usd FROM records WHERE cost_usd > 0 AND {where}"
)

_OLDER = (
    "SELECT project, provider, strftime(ts AT TIME ZONE $zone, '%Y-%m-%d') AS day, session_id, "
    "sum(cost_usd) FROM records WHERE cost_usd > 0 AND ts >= $start AND ts < $recent "
    "GROUP BY ALL"
)
"""Records too old for their ids to be kept: counted as sums per day and session."""


def _rows(con: Any, where: str, zone: str, **params: Any) -> list[tuple]:
    rows = con.execute(_ROWS.format(where=where), {"zone": zone, **params}).fetchall()
    return [
        (rid, float(ts), project, provider, day, session, to_nano(Decimal(cost)))
        for rid, ts, project, provider, day, session, cost in rows
    ]


def count_ingested(con: Any, state_file: Path, zone: str) -> int:
    """Count the records this ingest transaction inserted (``ingested_at = now()``); how many
    were new to the state. Records older than the state's memory of settled ids are taken as
    counted by their job."""
    state = SharedState(state_file)
    try:
        recent = datetime.now(UTC) - timedelta(seconds=KEEP_SETTLED_IDS)
        rows = _rows(con, "ingested_at = now() AND ts >= $recent", zone, recent=recent)
        if not rows:
            return 0
        with state.transaction() as tx:
            return len(state.settle(tx, rows))
    finally:
        state.close()


def seed(con: Any, state_file: Path, zone: str) -> bool:
    """Seed a state that was never seeded from the ledger (see the module docstring); whether
    it was seeded now."""
    state = SharedState(state_file)
    try:
        with state.transaction() as tx:
            if state.meta(tx, "seeded") is not None:
                return False
        local = datetime.now(ZoneInfo(zone))
        start = (local.replace(day=1) - timedelta(days=1)).replace(
            day=1, hour=0, minute=0, second=0, microsecond=0
        )
        recent = datetime.now(UTC) - timedelta(seconds=KEEP_SETTLED_IDS)
        rows = _rows(con, "ts >= $recent", zone, recent=recent)
        older = con.execute(_OLDER, {"zone": zone, "start": start, "recent": recent}).fetchall()
        with state.transaction() as tx:
            if state.meta(tx, "seeded") is not None:
                return False
            counted = state.settle(tx, rows)
            for project, provider, day, session, cost in older:
                state.add_spend(tx, project, provider, day, session, to_nano(Decimal(cost)))
            state.set_meta(tx, "seeded", "ledger")
        log.info(
            "policy state %s seeded from the ledger: %d recent records and %d older sums since %s",
            state_file,
            len(counted),
            len(older),
            start.date(),
        )
        return True
    finally:
        state.close()
