"""``voicegw export``: the usage records of a window to a CSV, JSON or Parquet file.

DuckDB writes the file itself (COPY), Parquet included, so no pyarrow is needed. Money keeps its
exact DECIMAL value in CSV and Parquet; JSON writes it as a number with all its digits.
"""

from __future__ import annotations

from pathlib import Path

from voicegateway.cli.costs import add_report_options, filters, report


def add_parser(sub, common) -> None:
    p = sub.add_parser("export", parents=[common], help="usage records to CSV, JSON or Parquet")
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
        count = queries.export(con, args.output, fmt, filters(args, ledger.timezone))
        print(f"wrote {count} records to {args.output} ({fmt})")
        return 0

    return report(args, query)
