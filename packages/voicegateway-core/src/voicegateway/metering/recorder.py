"""Where usage records go. For now an in-memory log the demo and tests read; the durable spool and
the DuckDB ledger take over behind the same ``append`` in the next stage."""

from __future__ import annotations

import threading
from collections import deque

from voicegateway.metering.records import UsageRecord


class UsageLog:
    """A bounded, thread-safe in-memory log. ``append`` is a deque append: no I/O, no lock."""

    def __init__(self, maxlen: int = 100_000) -> None:
        self._records: deque[UsageRecord] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def append(self, record: UsageRecord) -> None:
        self._records.append(record)

    def records(self) -> list[UsageRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
