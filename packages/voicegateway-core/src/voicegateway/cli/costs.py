"""``voicegw costs``: requests, units and spend, grouped by project, provider, model, modality
and a calendar day, week or month; ``--what-if`` reprices the same units on other models.

Also the plumbing the other report commands (``latency``, ``logs``, ``sessions``, ``export``)
share: the ledger from voicegw.yaml, the ``--since/--until/--project`` window, and output as a
table, JSON or CSV. In JSON and CSV, money is an exact decimal string (``"0.000123"``): a JSON
number would become a float in most readers.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from voicegateway.cli.output import table

MODALITIES = ("stt", "llm", "tts")


def add_parser(sub, common) -> None:
    p = sub.add_parser(
        "costs",
        parents=[common],
        help="spend and units, grouped",
        description="Requests, units and cost from the usage ledger. Periods are calendar "
        "days, weeks (from Monday) or months in storage.timezone.",
    )
    p.add_argument(
        "--by",
        default="project",
        metavar="KEYS",
        help="comma-separated: project, provider, model, modality, session, and one of day, "
        "week, month (default: project)",
    )
    p.add_argument(
        "--what-if",
        metavar="MOD=PROVIDER/MODEL,...",
        help="also price the same units as if these models had served them, e.g. "
        "stt=deepgram/nova-3,llm=openai/gpt-4o-mini",
    )
    add_report_options(p)
    p.set_defaults(run=run)


def add_report_options(p, *, fmt: bool = True) -> None:
    """``--since``, ``--until``, ``--project`` and (``fmt``) ``--format``."""
    p.add_argument(
        "--since", metavar="WHEN", help="from (inclusive): 2026-11-01, 2026-11-01T08:00, 7d, today"
    )
    p.add_argument("--until", metavar="WHEN", help="to (exclusive), same forms as --since")
    p.add_argument("--project", help="only this project")
    if fmt:
        p.add_argument("--format", choices=("table", "json", "csv"), default="table")


def open_ledger(args):
    """The ``Ledger`` voicegw.yaml's ``storage:`` describes."""
    from voicegateway.cli import load_config
    from voicegateway.ledger import Ledger

    return Ledger.from_config(load_config(args).storage)


def filters(args, timezone: str, **extra):
    """The window of ``add_report_options`` as query ``Filters``."""
    from voicegateway.ledger.queries import Filters, parse_when

    return Filters(
        since=parse_when(args.since, timezone) if args.since else None,
        until=parse_when(args.until, timezone) if args.until else None,
        project=args.project,
        **extra,
    )


def report(args, query) -> int:
    """Open the ledger (ingesting pending spool files), run ``query(con, ledger)`` and return its
    exit status; configuration, argument and lock problems are one line on stderr, status 1."""
    import duckdb

    from voicegateway.config import ConfigError
    from voicegateway.ledger.migrations import SchemaError
    from voicegateway.ledger.writer import LedgerBusy

    try:
        ledger = open_ledger(args)
        with ledger.open() as con:
            return query(con, ledger)
    except (ConfigError, LedgerBusy, SchemaError, ValueError, OSError, duckdb.Error) as exc:
        print(f"voicegw {args.command}: {exc}", file=sys.stderr)
        return 1


def run(args) -> int:
    from voicegateway.ledger import queries

    def query(con, ledger) -> int:
        by = [k.strip() for k in args.by.split(",") if k.strip()]
        window = filters(args, ledger.timezone)
        if args.what_if:
            rows = queries.what_if(
                con, parse_what_if(args.what_if), by, timezone=ledger.timezone, filters=window
            )
        else:
            rows = queries.costs(con, by, timezone=ledger.timezone, filters=window)
        emit(rows, args.format, always=("requests", "cost_usd", "what_if_usd"), ledger=ledger)
        return 0

    return report(args, query)


def parse_what_if(text: str) -> dict[str, tuple[str, str]]:
    """``stt=deepgram/nova-3,llm=openai/gpt-4o-mini`` -> {modality: (provider, model)}."""
    substitutes: dict[str, tuple[str, str]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        modality, _, ref = part.partition("=")
        provider, _, model = ref.strip().partition("/")
        if modality.strip() not in MODALITIES or not provider or not model:
            raise ValueError(
                f"--what-if {part!r}: expected MODALITY=PROVIDER/MODEL with a modality among "
                f"{', '.join(MODALITIES)}, e.g. llm=openai/gpt-4o-mini"
            )
        substitutes[modality.strip()] = (provider, model)
    return substitutes


def emit(rows: Sequence[dict], fmt: str, *, always: Sequence[str] = (), ledger=None) -> None:
    """Print ``rows`` as JSON (a list of objects), CSV (a header row) or a table. The table
    leaves out numeric columns that are zero or empty in every row, except ``always``; with no
    rows it says so, naming the ``ledger`` read, so an empty report is never a mystery."""
    if fmt == "json":
        print(json.dumps([{k: _plain(v) for k, v in row.items()} for row in rows], indent=2))
        return
    names = list(rows[0]) if rows else []
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([[_plain(row[n]) for n in names] for row in rows])
        print(out.getvalue(), end="")
        return
    if not rows:
        print("no usage recorded for this selection" + (f" in {ledger.path}" if ledger else ""))
        return
    shown = [n for n in names if n in always or not _all_blank(rows, n)]
    print(table(shown, [[_text(row[n]) for n in shown] for row in rows]))


def _all_blank(rows: Sequence[dict], name: str) -> bool:
    values = [row[name] for row in rows]
    return all(v is None or v == "" for v in values) or (
        all(isinstance(v, int | float | Decimal) and not v for v in values)
    )


def money(value: Decimal) -> str:
    """Exact fixed-point text, no exponent, no trailing zeros: ``0.000123``."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _plain(value):
    """A JSON/CSV value: money as exact text, times as ISO 8601."""
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return money(value.quantize(Decimal("0.000001")) if abs(value) >= 1e-6 else value)
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)
