"""The usage ledger: where every metered record ends up, and the reports read from it.

- :mod:`.spool`: ``Spooler``, the sink of a job process (standard library only).
- :mod:`.schema`, :mod:`.migrations`: the DuckDB file's tables, the ``usage`` view, upgrades.
- :mod:`.writer`: ``Ledger``, the lock, the open and the ingest of spool files.
- :mod:`.queries`: the reports (costs, what-if, latency, logs, sessions, export).

Importing this package imports no DuckDB: only the writer and the queries do, and job processes
use only the spool. docs/ledger.md explains the design.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicegateway._lazy import lazy_attributes
from voicegateway.ledger.spool import Spooler

if TYPE_CHECKING:
    from voicegateway.ledger.writer import IngestReport, Ledger, LedgerBusy

__all__ = ["IngestReport", "Ledger", "LedgerBusy", "Spooler"]


__getattr__ = lazy_attributes(
    __name__, dict.fromkeys(("IngestReport", "Ledger", "LedgerBusy"), "voicegateway.ledger.writer")
)
