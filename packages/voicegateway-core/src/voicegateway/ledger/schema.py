"""What the ledger file holds at the current schema version, and how a spool line maps onto it.

Tables (see docs/ledger.md): ``records`` (one row per usage record, plus ``ingested_at``),
``ingested_files`` (spool files already ingested, so a file is never ingested twice) and
``schema_version``. Readers use the ``usage`` view, the documented interface: the tables may
change between versions (:mod:`.migrations`), the view's columns only grow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

SCHEMA_VERSION = 3

MONEY = "DECIMAL(18,12)"
"""US dollars to the picodollar (a token costs down to ~1e-8 $): 64-bit, so sums stay fast; a
record may hold up to $999,999. Sums are DECIMAL(38,12)."""

COLUMN_TYPES: dict[str, str] = {
    "call_id": "VARCHAR",
    "modality": "VARCHAR",
    "provider": "VARCHAR",
    "model": "VARCHAR",
    "project": "VARCHAR",
    "request_id": "VARCHAR",
    "ts": "TIMESTAMPTZ",
    "job_id": "VARCHAR",
    "room": "VARCHAR",
    "session_id": "VARCHAR",
    "audio_seconds": "DOUBLE",
    "audio_seconds_measured": "DOUBLE",
    "input_tokens": "BIGINT",
    "cached_tokens": "BIGINT",
    "cache_creation_tokens": "BIGINT",
    "output_tokens": "BIGINT",
    "reasoning_tokens": "BIGINT",
    "characters": "BIGINT",
    "cost_usd": MONEY,
    "price_source": "VARCHAR",
    "price_detail": "VARCHAR",
    "price_rates": "VARCHAR",
    "estimated": "BOOLEAN",
    "status": "VARCHAR",
    "fallback_from": "VARCHAR",
    "error_class": "VARCHAR",
    "ttfb_ms": "DOUBLE",
    "duration_ms": "DOUBLE",
    "reason": "VARCHAR",
}
"""Ledger column types, one per record field (in RECORD_FIELDS order). A test fails when a record
field has no column here, which is the cue to write a migration."""

SPOOL_TYPES = {**COLUMN_TYPES, "ts": "DOUBLE"}
"""How ``read_json`` types a spool line: ``ts`` is epoch seconds there."""

ZERO_DEFAULT = frozenset(
    name for name, sql in COLUMN_TYPES.items() if sql in ("DOUBLE", "BIGINT")
) - {"ttfb_ms", "duration_ms"}
"""Units: a spool line without one (written before the field existed) means zero, not unknown."""


def _select_expr(name: str) -> str:
    if name == "ts":
        return "to_timestamp(ts)"
    if name in ZERO_DEFAULT:
        return f"coalesce({name}, 0)"
    if name == "estimated":
        return "coalesce(estimated, false)"
    return name


def spool_select() -> str:
    """``INSERT INTO records (...) SELECT ...`` reading spool files (parameter 1: their paths)
    with DuckDB's own JSON reader, never row by row in Python."""
    columns = ", ".join(f"'{name}': '{sql}'" for name, sql in SPOOL_TYPES.items())
    names = ", ".join(COLUMN_TYPES)
    values = ", ".join(_select_expr(name) for name in COLUMN_TYPES)
    return (
        f"INSERT INTO records ({names}, ingested_at) SELECT {values}, now() "
        f"FROM read_json($1, format='newline_delimited', columns={{{columns}}})"
    )


USAGE_COLUMNS = (*COLUMN_TYPES, "ingested_at")
"""The ``usage`` view's columns: every record field, then when the row reached the ledger."""

USAGE_VIEW = f"CREATE OR REPLACE VIEW usage AS SELECT {', '.join(USAGE_COLUMNS)} FROM records"


def literal(text: str) -> str:
    """A SQL string literal, for the few statements that take no parameters (SET, COPY TO)."""
    return "'" + text.replace("'", "''") + "'"


def one_row(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """The one row of an aggregate query (``SELECT count(*) ...``): DuckDB types ``fetchone()``
    as optional, but such a query always has a row."""
    row = result.fetchone()
    if row is None:
        raise RuntimeError("an aggregate query returned no row")
    return row
