"""``voicegw sessions``: requests, units and spend per LiveKit session, latest first."""

from __future__ import annotations

from voicegateway.cli.costs import add_report_options, emit, filters, report


def add_parser(sub, common) -> None:
    p = sub.add_parser("sessions", parents=[common], help="totals per session")
    add_report_options(p)
    p.add_argument("--limit", type=int, default=50, help="at most this many (default: 50)")
    p.set_defaults(run=run)


def run(args) -> int:
    from voicegateway.ledger import queries

    def query(con, ledger) -> int:
        rows = queries.sessions(con, filters(args, ledger.timezone), limit=args.limit)
        emit(rows, args.format, always=("requests", "cost_usd"))
        return 0

    return report(args, query)
