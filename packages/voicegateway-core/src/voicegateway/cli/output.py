"""How every command prints: a table for people, JSON or CSV for programs.

Tables name each column with its unit (``cost ($)``, ``TTFB p50 (ms)``, ``STT audio (s)``) and wrap
long cells. JSON and CSV carry exact decimal text for every quantity that is not a whole number:
money with every recorded digit (``"0.000123"``, never ``0E-9``), seconds and milliseconds to six
decimal places (never a float's ``0.18866666666667``). A JSON number would become a float in most
readers, so these are strings; whole numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal

FORMATS = ("table", "json", "csv")
WRAP = 48
"""Table cells longer than this wrap onto more lines (an error text, a price detail)."""

_HEADINGS = {
    "ts": "time",
    "stt_audio_seconds": "STT audio (s)",
    "tts_audio_seconds": "TTS audio (s)",
    "audio_seconds_measured": "STT audio measured (s)",
    "usd_per_minute": "$ per minute",
}
_UPPER = {"stt", "llm", "tts", "ttfb", "id"}
_UNITS = {"usd": "$", "ms": "ms", "s": "s", "seconds": "s"}


def add_format(parser, formats: Sequence[str] = FORMATS) -> None:
    """``--format`` (table, json, csv) and ``--json``, its alias."""
    parser.add_argument(
        "--format", choices=formats, default=formats[0], help=f"default: {formats[0]}"
    )
    parser.add_argument(
        "--json", dest="format", action="store_const", const="json", help="same as --format json"
    )


def heading(name: str) -> str:
    """A column's table header, with its unit: ``cost_usd`` -> ``cost ($)``."""
    if name in _HEADINGS:
        return _HEADINGS[name]
    words = name.split("_")
    unit = _UNITS.get(words[-1]) if len(words) > 1 else None
    if unit:
        words = words[:-1]
    text = " ".join(w.upper() if w in _UPPER else w for w in words).replace("what if", "what-if")
    return f"{text} ({unit})" if unit else text


def decimal_text(value: Decimal) -> str:
    """Exact fixed-point text, no exponent, no trailing zeros: ``0.000123``, ``0``."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def exact(value):
    """A JSON/CSV value: decimals as exact text, floats to six places, times as ISO 8601."""
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, float):
        return decimal_text(Decimal(repr(round(value, 6))))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: exact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [exact(v) for v in value]
    return value


def cell(value) -> str:
    """A table cell: money to the micro-dollar, floats to three places, times to the second."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return decimal_text(value.quantize(Decimal("0.000001")) if abs(value) >= 1e-6 else value)
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, wrap: int = WRAP) -> str:
    """A left-aligned plain-text table, readable in a terminal and in CI logs; cells longer than
    ``wrap`` continue on the next lines."""
    head = [str(c) for c in headers]
    body = [[textwrap.wrap(cell(c), wrap) or [""] for c in row] for row in rows]
    widths = [
        max([len(head[i]), *(len(line) for row in body for line in row[i])])
        for i in range(len(head))
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    lines = [line(head), "  ".join("-" * w for w in widths)]
    for row in body:
        height = max(len(c) for c in row)
        lines += [line([c[i] if i < len(c) else "" for c in row]) for i in range(height)]
    return "\n".join(lines)


def print_json(data) -> None:
    print(json.dumps(exact(data), indent=2))


def print_csv(names: Sequence[str], rows: Sequence[Mapping]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    writer.writerows([[_csv(exact(row.get(n))) for n in names] for row in rows])
    print(out.getvalue(), end="")


def _csv(value):
    return json.dumps(value) if isinstance(value, dict | list) else value


def emit(
    rows: Sequence[Mapping], fmt: str, *, always: Sequence[str] = (), ledger=None, empty: str = ""
) -> None:
    """Print ``rows`` as JSON (a list of objects), CSV (a header row) or a table. The table
    leaves out numeric columns that are zero or empty in every row, except ``always``; with no
    rows it says so (``empty``, or naming the ``ledger`` read), so an empty report is never a
    mystery."""
    if fmt == "json":
        print_json(list(rows))
        return
    names = list(rows[0]) if rows else []
    if fmt == "csv":
        print_csv(names, rows)
        return
    if not rows:
        print(
            empty
            or "no usage recorded for this selection" + (f" in {ledger.path}" if ledger else "")
        )
        return
    shown = [n for n in names if n in always or not _all_blank(rows, n)]
    print(table([heading(n) for n in shown], [[row[n] for n in shown] for row in rows]))


def _all_blank(rows: Sequence[Mapping], name: str) -> bool:
    values = [row[name] for row in rows]
    return all(v is None or v == "" for v in values) or (
        all(isinstance(v, int | float | Decimal) and not v for v in values)
    )
