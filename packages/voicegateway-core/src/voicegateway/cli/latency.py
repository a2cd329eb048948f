"""``voicegw latency``: p50/p95/p99 time to first byte and duration per provider and model."""

from __future__ import annotations

from voicegateway.cli.costs import add_report_options, emit, filters, report

EXAMPLES = ("voicegw latency --since 24h", "voicegw latency --provider deepgram --format json")


def add_parser(sub, common) -> None:
    p = sub.add_parser(
        "latency", parents=[common], help="TTFB and duration percentiles per provider and model"
    )
    add_report_options(p)
    p.add_argument("--provider", help="only this provider")
    p.set_defaults(run=run)


def run(args) -> int:
    from voicegateway.ledger import queries

    def query(con, ledger) -> int:
        window = filters(args, ledger.timezone, provider=args.provider)
        emit(queries.latency(con, window), args.format, always=("requests",), ledger=ledger)
        return 0

    return report(args, query)
