"""``voicegw export``: the usage records of a window to a CSV, JSON or Parquet file.

DuckDB writes the file itself (COPY), Parquet included, so no pyarrow is needed. Money keeps its
exact DECIMAL value in CSV and Parquet; JSON writes it as a number with all its digits. Seconds
and milliseconds are exact decimals to the microsecond. On a terminal, stderr shows that the
export is under way.
"""

from __future__ import annotations

from pathlib import Path

from voicegateway.cli.costs import add_report_options, filters, report
from voicegateway.cli.progress import Progress

EXAMPLES = (
    "voicegw export usage.parquet --since 2026-11-01 --until 2026-12-01",
    "voicegw export november.csv --project acme --since 2026-11-01 --until 2026-12-01",
)


def add_parser(sub, common) -> None:
    p = sub.add_parser(
        "export",
        parents=[common],
        help="usage records to CSV, JSON or Parquet",
        description="Every column of the ledger's usage view, one row per record, oldest first.",
    )
    p.add_argument("output", type=Path, help="file to write (replaced if it exists)")
    p.add_argument(
        "--format",
        choices=("csv", "json", "parquet"),
        help="default: from the file's extension, else csv",
    )
    add_report_options(p, fmt=False)
    p.set_defaults(run=run)


def run(args) -> int:
    from voicegateway.ledger import queries

    fmt = args.format or {".json": "json", ".parquet": "parquet"}.get(args.output.suffix, "csv")

    def query(con, ledger) -> int:
        with Progress(f"exporting to {args.output}"):
            count = queries.export(con, args.output, fmt, filters(args, ledger.timezone))
        print(f"wrote {count} records to {args.output} ({fmt})")
        return 0

    return report(args, query)
