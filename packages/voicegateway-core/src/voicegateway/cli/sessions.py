"""``voicegw sessions``: one row per conversation: start, duration, calls, cost per leg (STT,
LLM, TTS), total and cost per minute; latest first, or ``--sort cost``."""

from __future__ import annotations

from voicegateway.cli.costs import add_report_options, emit, filters, report

EXAMPLES = ("voicegw sessions --since today", "voicegw sessions --sort cost --limit 10")


def add_parser(sub, common) -> None:
    p = sub.add_parser(
        "sessions",
        parents=[common],
        help="cost per conversation",
        description="One row per session: a LiveKit room, an AgentSession, or an id set with "
        "inference.session(). Money in USD; usd_per_minute is the total over the duration.",
    )
    add_report_options(p)
    p.add_argument(
        "--sort",
        default="started",
        metavar="KEY",
        help="started (the default: latest first), cost, per-minute, duration or calls; "
        "largest first",
    )
    p.add_argument("--limit", type=int, default=50, help="at most this many (default: 50)")
    p.set_defaults(run=run)


def run(args) -> int:
    from voicegateway.ledger import queries

    def query(con, ledger) -> int:
        window = filters(args, ledger.timezone)
        rows = queries.sessions(con, window, limit=args.limit, sort=args.sort)
        emit(rows, args.format, always=("calls", "cost_usd"), ledger=ledger)
        return 0

    return report(args, query)
