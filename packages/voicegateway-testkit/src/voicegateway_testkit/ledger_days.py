"""Records on several days from calls made now, and ``voicegw reconcile`` run as a user runs it.

``voicegw reconcile`` compares per day, so its end-to-end tests need a ledger that spans days,
filled by real calls. The calls all happen today: :class:`RecordDay`, a middleware registered
through the real ``register_middlewares`` hook, stamps each record with noon (UTC) of the day
being seeded, after pricing and before recording, as if the call had run that day. Nothing else
about the record changes::

    clock = record_days(gateway, DAYS[0])   # before the first call: the chain is built then
    ...                                     # the first day's calls
    clock.day = DAYS[1]
    ...                                     # the second day's calls
    gateway.spooler.flush()
    done = voicegw_reconcile(config_path, "usage.json", "--format", "json")
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import voicegateway
from voicegateway.hookspecs import hookimpl
from voicegateway.metering.middleware import Middleware
from voicegateway.records import Call, UsageRecord


class RecordDay(Middleware):
    """Stamps each record with :attr:`time` (noon, UTC, unless set) of :attr:`day` (see the
    module docstring)."""

    name = "record-day"
    VOICEGATEWAY_PLUGIN_API = 1

    def __init__(self, day: datetime.date, time: datetime.time = datetime.time(12)) -> None:
        self.day = day
        self.time = time

    def on_usage(self, call: Call, record: UsageRecord) -> None:
        stamp = datetime.datetime.combine(self.day, self.time, datetime.UTC)
        record.ts = stamp.timestamp()

    @hookimpl
    def register_middlewares(self, register, config) -> None:
        register(self)


def record_days(
    gateway: voicegateway.Gateway, day: datetime.date, time: datetime.time = datetime.time(12)
) -> RecordDay:
    """Add a :class:`RecordDay` stamping ``day`` (at ``time``, UTC) to ``gateway``'s chain; set
    its ``day`` (and ``time``) before each later day's calls. Call it before the gateway's first
    call, which builds the chain."""
    clock = RecordDay(day, time)
    gateway.plugins.register(clock, name=RecordDay.name)
    return clock


def voicegw_reconcile(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``voicegw reconcile --config CONFIG ARGS...`` in a subprocess, with this interpreter and
    its import path, so it finds the ledger and the plugins the test's gateway used."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "voicegateway.cli", "reconcile", "--config", str(config)]
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env)
