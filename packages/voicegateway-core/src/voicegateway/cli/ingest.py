"""``voicegw ingest``: move the spool files job processes wrote into the DuckDB ledger, once or
(``--follow``) every ``storage.ingest_interval`` seconds until interrupted.

Queries ingest before they read, so ``--follow`` is needed only for freshness of readers that do
not (a dashboard reading exports) or to keep the spool directory short. It holds the ledger's
lock only while ingesting, so queries run in between. On a terminal, a large backlog shows its
progress on stderr.
"""

from __future__ import annotations

import signal
import threading

from voicegateway.cli.progress import Progress

EXAMPLES = ("voicegw ingest", "voicegw ingest --follow --interval 5")


def add_parser(sub, common) -> None:
    p = sub.add_parser(
        "ingest",
        parents=[common],
        help="move spooled usage into the ledger",
        description="Queries ingest before they read; --follow keeps the spool short for "
        "readers that do not (a dashboard reading exports).",
    )
    p.add_argument("--follow", action="store_true", help="keep ingesting until interrupted")
    p.add_argument(
        "--interval", type=float, metavar="SECONDS", help="default: storage.ingest_interval"
    )
    p.set_defaults(run=run)


def run(args) -> int:
    from voicegateway.cli import load_config
    from voicegateway.ledger import Ledger

    storage = load_config(args).storage
    ledger = Ledger.from_config(storage)
    interval = args.interval or storage.ingest_interval
    stop = threading.Event()
    if args.follow:
        # SIGINT/SIGTERM end the loop between ingests: an ingest under way finishes its
        # transaction instead of being interrupted inside DuckDB.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
    while True:
        report = ingest(ledger)
        if report.files or report.bad or not args.follow:
            print(
                f"ingested {report.records} records from {report.files} spool files"
                + (f", {report.duplicates} duplicates skipped" if report.duplicates else "")
                + (f", {len(report.bad)} malformed files moved to bad/" if report.bad else "")
                + (f"; {report.waiting} files wait: {report.error}" if report.error else ""),
                flush=True,
            )
        if not args.follow:
            return 1 if report.error else 0
        if stop.wait(interval):
            return 0


def ingest(ledger):
    """``ledger.ingest()``, with a progress line on a terminal when spool files wait."""
    pending = len(ledger.pending_files())
    if not pending:
        return ledger.ingest()
    with Progress("ingesting spooled usage", pending, unit="files") as progress:
        ledger.on_batch = lambda files, total: progress.advance(files, total)
        return ledger.ingest()
