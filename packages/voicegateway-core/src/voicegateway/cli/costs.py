"""``voicegw costs``: requests, units and spend, grouped by project, provider, model, modality
and a calendar day, week or month; ``--what-if`` reprices the same units on other models.

Also the plumbing the other report commands (``latency``, ``logs``, ``sessions``, ``export``)
share: the ledger from voicegw.yaml, the ``--since/--until/--project`` window, and the report's
output (``voicegateway.cli.output.emit``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from voicegateway.cli.output import add_format, emit

if TYPE_CHECKING:
    import duckdb

    from voicegateway.ledger import Ledger

MODALITIES = ("stt", "llm", "tts")
EXAMPLES = (
    "voicegw costs --by provider,model,day --since 7d",
    "voicegw costs --by modality --what-if stt=deepgram/nova-3,llm=openai/gpt-4o-mini",
    "voicegw costs --by project,month --format csv > spend.csv",
)


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
        help="comma-separated: project, provider, model, modality, session, and one of day, week, "
        "month (default: project)",
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
        add_format(p)


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


def report(args, query: Callable[[duckdb.DuckDBPyConnection, Ledger], int]) -> int:
    """Open the ledger (ingesting pending spool files), run ``query(con, ledger)`` and return its
    exit status. Errors (voicegw.yaml, a value, a locked ledger) reach ``cli.main``."""
    from voicegateway.cli.ingest import ingest

    ledger = open_ledger(args)
    if ledger.pending_files():
        ingest(ledger)  # before the query, so a large backlog shows progress on a terminal
    with ledger.open() as con:
        return query(con, ledger)


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
