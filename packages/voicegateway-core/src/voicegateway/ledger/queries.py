"""The reports, read from the ``usage`` view of a ledger connection (``Ledger.open()``, which
ingests pending spool files first, so every report is fresh).

Rows are dicts. Money stays exact end to end: ``cost_usd`` is a DECIMAL in DuckDB and a
``Decimal`` here. Calendar periods are those of the ledger's time zone: a record's local day is
computed from its UTC instant plus the zone's offset at that instant, as integer arithmetic (the
zone's offset changes are looked up once per query), because converting every row through a time
zone library costs 4x more over 10M rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from voicegateway.ledger.schema import COLUMN_TYPES, MONEY, literal, one_row
from voicegateway.records import BILLED_UNIT_FIELDS, UNIT_FIELDS

Row = dict[str, Any]
"""A report's row: column name to DuckDB's value (str, int, Decimal, date, datetime or None),
whose type the SQL decides, not Python."""
KEYS = ("project", "provider", "model", "modality", "session")
"""What ``costs`` can group by, besides one calendar period (``session`` is ``session_id``)."""
SESSION_SORTS = {
    "started": "started",
    "cost": "cost_usd",
    "per-minute": "usd_per_minute",
    "duration": "duration_s",
    "calls": "calls",
}
"""``voicegw sessions --sort`` keys and their columns; every order is largest (latest) first."""
COST_UNITS = (
    "stt_audio_seconds",
    "tts_audio_seconds",
    *(u for u in UNIT_FIELDS if u != "audio_seconds"),
)
"""The unit columns of a ``costs`` row: audio seconds per modality (a second an STT heard and one
a TTS spoke are different things, never summed together), then the record's other units. Seconds
are exact decimals (each record's rounded to the microsecond)."""
PERIODS = ("day", "week", "month")
"""Calendar periods, in the ledger's time zone; weeks start on Monday."""
EXPORT_FORMATS = {
    "csv": "(FORMAT csv, HEADER)",
    "json": "(FORMAT json, ARRAY true)",
    "parquet": "(FORMAT parquet)",
}
"""``voicegw export`` formats and their COPY options (Parquet needs no pyarrow)."""

_DAY_US = 86_400_000_000


@dataclass(frozen=True)
class Filters:
    """Which records a report reads. ``since`` is inclusive, ``until`` exclusive."""

    since: datetime | None = None
    until: datetime | None = None
    project: str | None = None
    provider: str | None = None
    modality: str | None = None
    status: str | None = None

    def where(self) -> tuple[str, list[object]]:
        """The SQL ``WHERE`` clause (or nothing) and its parameters."""
        clauses: list[str] = []
        params: list[object] = []
        if self.since is not None:
            clauses.append("ts >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append("ts < ?")
            params.append(self.until)
        for name in ("project", "provider", "modality", "status"):
            value = getattr(self, name)
            if value is not None:
                clauses.append(f"{name} = ?")
                params.append(value)
        return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), params


def parse_when(text: str, timezone: str, now: datetime | None = None) -> datetime:
    """A ``--since``/``--until`` value: ``2026-11-01`` (midnight in ``timezone``),
    ``2026-11-01T08:30`` (in ``timezone`` unless it carries an offset), ``today``, or an age
    ``90m``, ``24h``, ``7d``, ``2w`` before ``now``."""
    zone = ZoneInfo(timezone)
    now = now or datetime.now(UTC)
    text = text.strip()
    age = re.fullmatch(r"(\d+)([smhdw])", text)
    if age:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
        return now - timedelta(**{unit[age[2]]: int(age[1])})
    if text == "today":
        return datetime.combine(now.astimezone(zone).date(), time(), zone)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use 2026-11-01, 2026-11-01T08:30, today, or an age "
            "such as 30m, 24h, 7d, 2w"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=zone)


# -- costs ---------------------------------------------------------------------------------------


def costs(
    con: duckdb.DuckDBPyConnection,
    by: Sequence[str] = (),
    *,
    timezone: str = "UTC",
    filters: Filters = Filters(),
) -> list[Row]:
    """Requests, unit sums and cost per group: any of :data:`KEYS` and at most one of
    :data:`PERIODS` (the period's value is the ``date`` it starts on). ``unpriced`` counts the
    records without a cost (their units are still summed)."""
    keys, period = split_by(by)
    where, params = filters.where()
    session = ", session_id AS session" if "session" in keys else ""
    usage = f"(SELECT * REPLACE ({_EXACT_SECONDS}){_AUDIO_BY_MODALITY}{session} FROM usage)"
    if period is None:
        source, inner = f"{usage}{where}", keys
    else:
        day = _local_day_sql(con, timezone, where, params)
        stamped = f"(SELECT *, epoch_us(ts) AS us FROM {usage}{where})"
        source = f"(SELECT *, {day} AS day_n FROM {stamped})"
        inner = [*keys, "day_n"]
    measures = _measures(_SERVED, "sum({})", f"count(cost_usd) FILTER ({_NOT_REFUSED})", _REFUSED)
    sql = f"SELECT {''.join(k + ', ' for k in inner)}{measures} FROM {source}"
    sql += f" GROUP BY {', '.join(inner)}" if inner else ""
    if period is not None:
        start = "DATE '1970-01-01' + day_n::INTEGER"
        period_sql = start if period == "day" else f"date_trunc('{period}', {start})::DATE"
        rollup = _measures(
            "sum(requests)::BIGINT", "sum({})", "sum(priced)::BIGINT", "sum(refused)::BIGINT"
        )
        sql = (
            f"SELECT {''.join(k + ', ' for k in keys)}{period_sql} AS {period}, {rollup} "
            f"FROM ({sql}) GROUP BY ALL"
        )
    order = ", ".join([*keys, *([period] if period else [])])
    sql = f"SELECT * EXCLUDE (priced), requests - priced AS unpriced FROM ({sql})"
    rows = _dicts(con.execute(sql + (f" ORDER BY {order}" if order else ""), params))
    return [row for row in rows if row["requests"] or row["refused"]]


_NOT_REFUSED = "WHERE status IS DISTINCT FROM 'refused'"
_SERVED = f"count(*) FILTER ({_NOT_REFUSED})"
_REFUSED = "count(*) FILTER (WHERE status = 'refused')"
"""A refused call (budget, rate limit) is a record with zero units: counted apart, never as a
request."""


def _measures(requests: str, total: str, priced: str, refused: str) -> str:
    """The aggregates of a costs row. Integer units are summed as BIGINT (``::BIGINT`` lets
    DuckDB skip 128-bit accumulation: 1.5x faster over 10M rows); money and seconds stay
    DECIMAL, so sums are exact."""
    units = ", ".join(
        f"{total.format(u)}{'::BIGINT' if COLUMN_TYPES.get(u) == 'BIGINT' else ''} AS {u}"
        for u in COST_UNITS
    )
    return (
        f"{requests} AS requests, {units}, {total.format('cost_usd')} AS cost_usd, "
        f"{priced} AS priced, {refused} AS refused"
    )


def _exact_seconds(column: str) -> str:
    """A DOUBLE of seconds as exact DECIMAL microseconds, as pricing rounds them."""
    return f"round({column}, 6)::DECIMAL(18, 6)"


_EXACT_SECONDS = f"{_exact_seconds('audio_seconds_measured')} AS audio_seconds_measured"
_AUDIO_BY_MODALITY = "".join(
    f", CASE WHEN modality = '{m}' THEN {_exact_seconds('audio_seconds')} ELSE 0 END "
    f"AS {m}_audio_seconds"
    for m in ("stt", "tts")
)


def split_by(by: Sequence[str]) -> tuple[list[str], str | None]:
    """Validate a ``--by`` list: the group keys in order, and the period if any."""
    keys = [k for k in by if k in KEYS]
    periods = [k for k in by if k in PERIODS]
    unknown = [k for k in by if k not in KEYS and k not in PERIODS]
    if unknown:
        raise ValueError(
            f"cannot group by {', '.join(unknown)}: choose from {', '.join(KEYS + PERIODS)}"
        )
    if len(periods) > 1:
        raise ValueError(f"group by one period at most, not {', '.join(periods)}")
    if len(set(keys)) != len(keys):
        raise ValueError("each key may appear once in --by")
    return keys, (periods[0] if periods else None)


def _local_day_sql(
    con: duckdb.DuckDBPyConnection, timezone: str, where: str, params: list[object]
) -> str:
    """SQL for a row's local day number (days since 1970-01-01 in ``timezone``): its epoch
    microseconds (``us``) plus the zone's offset, which is piecewise constant between the zone's
    changes within the rows' time range."""
    lo, hi = one_row(con.execute(f"SELECT min(ts), max(ts) FROM usage{where}", params))
    pieces = _offsets(ZoneInfo(timezone), lo, hi) if lo is not None else [(0, 0)]
    expr = f"us + {pieces[-1][1]}"
    if len(pieces) > 1:
        whens = " ".join(
            f"WHEN us < {start} THEN us + {prev_offset}"
            for (start, _), (_, prev_offset) in zip(pieces[1:], pieces[:-1], strict=True)
        )
        expr = f"CASE {whens} ELSE {expr} END"
    return f"({expr}) // {_DAY_US}"


def _offsets(zone: ZoneInfo, lo: datetime, hi: datetime) -> list[tuple[int, int]]:
    """``(from epoch µs, UTC offset µs)`` pieces of ``zone`` covering ``[lo, hi]``: its offset is
    sampled daily and each change is located to the second by bisection."""

    def offset(second: int) -> int:
        delta = datetime.fromtimestamp(second, zone).utcoffset() or timedelta()
        return round(delta.total_seconds()) * 1_000_000

    start, end = int(lo.timestamp()), int(hi.timestamp()) + 1
    pieces = [(start * 1_000_000, offset(start))]
    second = start
    while second < end:
        nxt = min(second + 86_400, end)
        if offset(nxt) != pieces[-1][1]:
            a, b = second, nxt  # offset(a) is the current piece's, offset(b) is not
            while b - a > 1:
                mid = (a + b) // 2
                a, b = (mid, b) if offset(mid) == pieces[-1][1] else (a, mid)
            pieces.append((b * 1_000_000, offset(b)))
        second = nxt
    return pieces


def what_if(
    con: duckdb.DuckDBPyConnection,
    substitutes: Mapping[str, tuple[str, str]],
    by: Sequence[str] = (),
    *,
    timezone: str = "UTC",
    filters: Filters = Filters(),
) -> list[Row]:
    """``costs`` rows with ``what_if_usd``: the same units priced as if ``substitutes``
    (modality -> (provider, model)) had served every record of those modalities, the other
    modalities at their recorded cost. Prices come from ``voicegateway.pricing.price_units``
    applied to each group's unit sums per modality (prices are linear in units), so pricing
    runs once per group, not per record. ``what_if_detail`` says where each price came from;
    ``what_if_usd`` is None when a substitute has no price."""
    from voicegateway.pricing import price_units

    keys, period = split_by(by)
    shown = [*keys, *([period] if period else [])]
    detailed = [*shown, *([] if "modality" in keys else ["modality"])]
    merged: dict[tuple[object, ...], Row] = {}
    unknown: set[tuple[object, ...]] = set()
    for row in costs(con, detailed, timezone=timezone, filters=filters):
        group = tuple(row[k] for k in shown)
        if group not in merged:
            merged[group] = {k: row[k] for k in shown} | dict.fromkeys(
                ("requests", *COST_UNITS, "unpriced", "refused"), 0
            )
            merged[group] |= {"cost_usd": None, "what_if_usd": None, "what_if_detail": []}
        total = merged[group]
        for name in ("requests", *COST_UNITS, "unpriced", "refused"):
            total[name] += row[name]
        total["cost_usd"] = _add(total["cost_usd"], row["cost_usd"])
        modality, cost = row["modality"], row["cost_usd"]
        if modality in substitutes:
            provider, model = substitutes[modality]
            units = {u: row[u] for u in UNIT_FIELDS if row.get(u)}
            units["audio_seconds"] = row.get(f"{modality}_audio_seconds") or 0
            cost, detail = price_units(provider, model, modality, units)
            total["what_if_detail"].append(f"{modality} as {provider}/{model}: {detail}")
            if cost is None:
                unknown.add(group)
        total["what_if_usd"] = _add(total["what_if_usd"], cost)
    for group, row in merged.items():
        row["what_if_detail"] = "; ".join(dict.fromkeys(row["what_if_detail"]))
        if group in unknown:
            row["what_if_usd"] = None
    return list(merged.values())


def _add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    """Sum like SQL's ``sum``: unknowns are skipped, all unknown is unknown."""
    if a is None:
        return b
    return a if b is None else a + b


def month_to_date(
    con: duckdb.DuckDBPyConnection, timezone: str = "UTC", now: datetime | None = None
) -> dict[str, Decimal]:
    """Spend of every project since the start of the current month in ``timezone``: what a
    budget counter reloads at start-up."""
    local = (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone))
    start = datetime.combine(local.date().replace(day=1), time(), local.tzinfo)
    rows = con.execute(
        "SELECT project, sum(cost_usd) FROM usage WHERE ts >= ? GROUP BY project", [start]
    ).fetchall()
    return {project: cost or Decimal(0) for project, cost in rows}


# -- reconcile -----------------------------------------------------------------------------------


def billed_by_day(
    con: duckdb.DuckDBPyConnection,
    providers: Sequence[str],
    first: date,
    last: date,
    *,
    timezone: str = "UTC",
    between: tuple[datetime, datetime] | None = None,
) -> list[Row]:
    """What we recorded for ``providers`` from day ``first`` to ``last`` (inclusive) in
    ``timezone``, per provider, model, modality, project and day (a ``date``), for
    ``voicegw reconcile``. ``between`` narrows it to the records stamped within
    ``[start, end)`` (a provider's bucket that covers part of a day).

    Units are summed as pricing bills them: an STT record's ``audio_seconds``, or its
    ``audio_seconds_measured`` when the provider reported none, rounded to the microsecond as
    pricing rounds them, so the sums are exact ``Decimal`` seconds. ``cost_usd`` sums the
    priced records; ``unpriced`` counts the others. ``price_sources``, ``price_details`` and
    ``price_rates`` list the distinct values the records were priced with."""
    if not providers:
        return []
    zone = ZoneInfo(timezone)
    since = datetime.combine(first, time(), zone)
    until = datetime.combine(last + timedelta(days=1), time(), zone)
    if between is not None:
        since, until = max(since, between[0]), min(until, between[1])
    marks = ", ".join("?" for _ in providers)
    where = (
        f" WHERE ts >= ? AND ts < ? AND provider IN ({marks}) AND status IS DISTINCT FROM 'refused'"
    )
    params: list[object] = [since, until, *providers]
    day = _local_day_sql(con, timezone, where, params)
    seconds = (
        "CASE WHEN modality = 'stt' AND audio_seconds = 0 THEN audio_seconds_measured "
        "ELSE audio_seconds END"
    )
    sums = ", ".join(
        f"sum(round({seconds}, 6)::DECIMAL(18, 6)) AS {u}"
        if u == "audio_seconds"
        else f"sum({u}) AS {u}"
        for u in BILLED_UNIT_FIELDS
    )
    sql = (
        f"SELECT provider, model, modality, project, DATE '1970-01-01' + day_n::INTEGER AS day, "
        f"count(*) AS requests, {sums}, sum(cost_usd) AS cost_usd, "
        "count(*) - count(cost_usd) AS unpriced, "
        "list(DISTINCT price_source ORDER BY price_source) AS price_sources, "
        "list(DISTINCT price_detail ORDER BY price_detail) AS price_details, "
        "list(DISTINCT price_rates ORDER BY price_rates) AS price_rates "
        f"FROM (SELECT *, {day} AS day_n FROM (SELECT *, epoch_us(ts) AS us FROM usage{where})) "
        "GROUP BY provider, model, modality, project, day_n "
        "ORDER BY provider, model, modality, project, day_n"
    )
    return _dicts(con.execute(sql, params))


# -- latency, logs, sessions, export -------------------------------------------------------------


def latency(
    con: duckdb.DuckDBPyConnection,
    filters: Filters = Filters(),
) -> list[Row]:
    """p50/p95/p99 of time to first byte and of duration per provider and model, in ms to the
    microsecond (exact decimals): ``ttfb_p50_ms`` ... ``duration_p99_ms``."""
    where, params = filters.where()
    quantiles = ", ".join(
        f"round(quantile_cont({m}_ms, {q}), 3)::DECIMAL(18, 3) AS {m}_p{round(q * 100)}_ms"
        for m in ("ttfb", "duration")
        for q in (0.5, 0.95, 0.99)
    )
    sql = (
        f"SELECT provider, model, count(*) AS requests, {quantiles} FROM usage{where} "
        "GROUP BY provider, model ORDER BY provider, model"
    )
    return _dicts(con.execute(sql, params))


def unpriced(con: duckdb.DuckDBPyConnection, filters: Filters = Filters()) -> list[Row]:
    """Models that ran but could not be priced: provider, model, modality, requests, and the
    reason the pricing step gave (``price_detail``), most requests first."""
    where, params = filters.where()
    where = f"{where} AND cost_usd IS NULL" if where else " WHERE cost_usd IS NULL"
    sql = (
        "SELECT provider, model, modality, count(*) AS requests, "
        "any_value(price_detail) AS reason "
        f"FROM usage{where} GROUP BY provider, model, modality "
        "ORDER BY requests DESC, provider, model"
    )
    return _dicts(con.execute(sql, params))


def logs(
    con: duckdb.DuckDBPyConnection,
    filters: Filters = Filters(),
    limit: int = 50,
) -> list[Row]:
    """The most recent records, newest first."""
    where, params = filters.where()
    sql = f"SELECT * FROM usage{where} ORDER BY ts DESC, ingested_at DESC LIMIT ?"
    return _dicts(con.execute(sql, [*params, limit]))


def sessions(
    con: duckdb.DuckDBPyConnection,
    filters: Filters = Filters(),
    limit: int = 50,
    sort: str = "started",
) -> list[Row]:
    """One row per conversation (records without a session id are left out): when it started
    (the start of its first call), how long it lasted (to its last record), its calls, the cost
    of each leg and in total, and the cost per minute of conversation; ``sort`` is a key of
    :data:`SESSION_SORTS`, largest first."""
    if sort not in SESSION_SORTS:
        raise ValueError(f"cannot sort sessions by {sort!r}: choose {', '.join(SESSION_SORTS)}")
    where, params = filters.where()
    where = f"{where} AND session_id IS NOT NULL" if where else " WHERE session_id IS NOT NULL"
    legs = ", ".join(
        f"sum(cost_usd) FILTER (WHERE modality = '{m}') AS {m}_usd" for m in ("stt", "llm", "tts")
    )
    # a record's ts is when it was reported; its duration_ms goes back to the start of its call
    begun = "ts - to_microseconds(CAST(coalesce(duration_ms, 0) * 1000 AS BIGINT))"
    grouped = (
        "SELECT session_id, string_agg(DISTINCT project, ',' ORDER BY project) AS project, "
        f"any_value(room) AS room, min({begun}) AS started, max(ts) AS ended, "
        f"count(DISTINCT call_id) AS calls, {legs}, sum(cost_usd) AS cost_usd, "
        "count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced "
        f"FROM usage{where} GROUP BY session_id"
    )
    duration = "round(CAST(epoch_ms(ended) - epoch_ms(started) AS DOUBLE) / 1000, 3)"
    sql = (
        "SELECT session_id, project, room, started, "
        f"{duration} AS duration_s, calls, stt_usd, llm_usd, tts_usd, cost_usd, "
        f"CAST(cost_usd * 60 / CAST(nullif({duration}, 0) AS DECIMAL(18, 3)) AS {MONEY}) "
        f"AS usd_per_minute, unpriced FROM ({grouped}) "
        f"ORDER BY {SESSION_SORTS[sort]} DESC NULLS LAST, started DESC, session_id LIMIT ?"
    )
    return _dicts(con.execute(sql, [*params, limit]))


def export(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    fmt: str,
    filters: Filters = Filters(),
) -> int:
    """Write the matching rows of ``usage`` to ``path`` as csv, json (one array) or parquet with
    DuckDB's COPY (no pyarrow); return the row count. Times are written in the connection's
    time zone, with their offset; seconds and milliseconds as exact decimals to the microsecond
    (the record's DOUBLE would show float noise: ``0.18866666666666668``)."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: choose {', '.join(EXPORT_FORMATS)}")
    where, params = filters.where()
    exact = ", ".join(
        f"round({name}, {3 if name.endswith('_ms') else 6})::DECIMAL(18, "
        f"{3 if name.endswith('_ms') else 6}) AS {name}"
        for name, sql in COLUMN_TYPES.items()
        if sql == "DOUBLE"
    )
    sql = (
        f"COPY (SELECT * REPLACE ({exact}) FROM usage{where} ORDER BY ts) TO {literal(str(path))} "
    )
    (count,) = one_row(con.execute(sql + EXPORT_FORMATS[fmt], params))
    return int(count)


def _dicts(result: duckdb.DuckDBPyConnection) -> list[Row]:
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
