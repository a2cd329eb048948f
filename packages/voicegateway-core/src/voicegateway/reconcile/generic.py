"""The generic export: a CSV file or a JSON list of objects, one billed line per row, for any
provider whose format has no reader of its own (see docs/reconcile.md).

Columns (any order; others are ignored): ``provider``, ``model``, ``day`` (``YYYY-MM-DD``),
``leg`` (``stt``, ``llm``, ``tts``) are required; ``audio_seconds``, ``input_tokens``,
``cached_tokens``, ``cache_creation_tokens``, ``output_tokens``, ``characters``, ``cost_usd``
and ``account`` are optional. An absent column or an empty cell means the export does not give
that figure (it is not compared), not zero. ``--map THEIRS=OURS`` renames a column.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path

from voicegateway.reconcile.billed import LEGS, UNITS, BilledUsage, ExportError, UsageReader

NAME = "generic"
REQUIRED = ("provider", "model", "day", "leg")
FIELDS = (*REQUIRED, *UNITS, "cost_usd", "account")
"""Our field names, the default column names."""


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """``--map THEIRS=OURS`` options as {our field: their column}."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        theirs, sep, ours = (part.strip() for part in pair.partition("="))
        if not sep or not theirs or ours not in FIELDS:
            raise ValueError(
                f"--map {pair!r}: expected THEIR_COLUMN=FIELD with FIELD one of {', '.join(FIELDS)}"
            )
        if ours in mapping:
            raise ValueError(f"--map: {ours!r} is mapped twice")
        mapping[ours] = theirs
    return mapping


def generic_reader(mapping: Mapping[str, str] | None = None, timezone: str = "UTC") -> UsageReader:
    """The generic reader with columns renamed by ``mapping`` ({our field: their column}),
    its days in ``timezone``."""
    columns = {f: (mapping or {}).get(f, f) for f in FIELDS}
    return UsageReader(
        provider="",
        name=NAME,
        description="CSV or a JSON list of objects with the columns of docs/reconcile.md "
        f"({', '.join(FIELDS)}); used when its header has provider, model, day and leg",
        timezone=timezone,
        sniff=lambda name, head: _sniff(head, columns),
        read=lambda path: _read(path, columns),
    )


def _sniff(head: bytes, columns: Mapping[str, str]) -> bool:
    text = head.decode("utf-8-sig", errors="replace").lstrip()
    required = [columns[f] for f in REQUIRED]
    if text.startswith("["):
        return all(json.dumps(c) in text for c in required)
    first = next(csv.reader(io.StringIO(text.partition("\n")[0])), [])
    return set(required) <= {c.strip() for c in first}


def _read(path: Path, columns: Mapping[str, str]) -> Iterator[BilledUsage]:
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ExportError(name, "file", None, f"not UTF-8 text ({exc.reason})") from None
    if text.lstrip()[:1] in ("[", "{"):
        yield from _read_json(name, text, columns)
    else:
        yield from _read_csv(name, text, columns)


def _read_csv(name: str, text: str, columns: Mapping[str, str]) -> Iterator[BilledUsage]:
    reader = csv.reader(io.StringIO(text))
    header = [c.strip() for c in next(reader, [])]
    missing = [columns[f] for f in REQUIRED if columns[f] not in header]
    if missing:
        raise ExportError(name, "row 1", missing[0], f"the header has no column {missing[0]!r}")
    index = {f: header.index(columns[f]) for f in FIELDS if columns[f] in header}
    for cells in reader:
        where = f"row {reader.line_num}"
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise ExportError(
                name, where, None, f"{len(cells)} cells where the header has {len(header)}"
            )
        values = {f: cells[i].strip() for f, i in index.items()}
        yield _line(name, where, values, columns)


def _read_json(name: str, text: str, columns: Mapping[str, str]) -> Iterator[BilledUsage]:
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ExportError(name, f"line {exc.lineno}", None, f"not JSON: {exc.msg}") from None
    if not isinstance(data, list):
        raise ExportError(name, "top level", None, "expected a list of objects")
    for i, item in enumerate(data):
        where = f"[{i}]"
        if not isinstance(item, dict):
            raise ExportError(name, where, None, "expected an object")
        values = {}
        for f in FIELDS:
            value = item.get(columns[f])
            if isinstance(value, bool | dict | list):
                raise ExportError(name, where, columns[f], f"unexpected value {value!r}")
            values[f] = "" if value is None else str(value)
        yield _line(name, where, values, columns)


def _line(
    name: str, where: str, values: Mapping[str, str], columns: Mapping[str, str]
) -> BilledUsage:
    for f in REQUIRED:
        if not values.get(f):
            raise ExportError(name, where, columns[f], "empty")
    try:
        day = datetime.date.fromisoformat(values["day"])
    except ValueError:
        raise ExportError(
            name, where, columns["day"], f"{values['day']!r} is not a day (YYYY-MM-DD)"
        ) from None
    leg = values["leg"].lower()
    if leg not in LEGS:
        raise ExportError(
            name, where, columns["leg"], f"{values['leg']!r} is not one of {', '.join(LEGS)}"
        )
    units = {}
    for unit in UNITS:
        if values.get(unit):
            units[unit] = _number(name, where, columns[unit], values[unit])
    cost = values.get("cost_usd")
    return BilledUsage(
        provider=values["provider"],
        model=values["model"],
        day=day,
        leg=leg,
        units=units,
        cost_usd=_number(name, where, columns["cost_usd"], cost) if cost else None,
        account=values.get("account") or None,
        source=f"{name}:{where}",
    )


def _number(name: str, where: str, column: str, text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0:
        raise ExportError(name, where, column, f"{text!r} is not a number of at least 0")
    return value
