"""``voicegw logs``: the most recent usage records, newest first."""

from __future__ import annotations

from voicegateway.cli.costs import add_report_options, emit, filters, report

BRIEF = (
    "ts", "project", "modality", "provider", "model", "status", "audio_seconds", "input_tokens",
    "cached_tokens", "output_tokens", "characters", "cost_usd", "ttfb_ms", "duration_ms",
    "fallback_from", "error_class", "reason", "request_id",
)  # fmt: skip
"""The columns of the table form; JSON and CSV carry every column of the usage view."""
EXAMPLES = (
    "voicegw logs --status error --limit 20",
    "voicegw logs --status refused",
    "voicegw logs --since 1h --provider openai --format json",
)


def add_parser(sub, common) -> None:
    p = sub.add_parser("logs", parents=[common], help="recent usage records")
    add_report_options(p)
    p.add_argument("--provider", help="only this provider")
    p.add_argument("--modality", choices=("stt", "llm", "tts"), help="only this modality")
    p.add_argument(
        "--status",
        choices=("ok", "error", "cancelled", "fallback", "refused"),
        help="only this status (refused: a budget or rate limit refused the call; see reason)",
    )
    p.add_argument("--limit", type=int, default=50, help="at most this many (default: 50)")
    p.set_defaults(run=run)


def run(args) -> int:
    from voicegateway.ledger import queries

    def query(con, ledger) -> int:
        window = filters(
            args, ledger.timezone, provider=args.provider, modality=args.modality,
            status=args.status,
        )  # fmt: skip
        rows = queries.logs(con, window, limit=args.limit)
        if args.format == "table":
            rows = [{name: row[name] for name in BRIEF} for row in rows]
        emit(rows, args.format, always=("ts", "cost_usd"), ledger=ledger)
        return 0

    return report(args, query)
