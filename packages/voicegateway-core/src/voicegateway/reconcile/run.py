"""From export files to the two sides of the comparison: which reader reads each file, what the
files cover (per provider: the days, in the reader's time zone, and the legs), and the
provider's totals per key. Anything that makes the input unusable raises :class:`BadInput`
(or the reader's :class:`~.billed.ExportError`); nothing is compared then. A paginated export
whose following pages were not given is compared as far as it goes and flagged ``incomplete``
(:func:`incomplete`).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from voicegateway.errors import VoiceGatewayError
from voicegateway.reconcile.billed import ALL_MODELS, BilledUsage, ExportError, Page, UsageReader
from voicegateway.reconcile.compare import Key, Ours, Result, Theirs

Span = tuple[datetime.datetime, datetime.datetime]

HEAD_BYTES = 64 * 1024


class BadInput(VoiceGatewayError, ValueError):
    """Input ``voicegw reconcile`` cannot compare: an unrecognised or ambiguous file, a reader
    that broke its contract, overlapping exports, an unmapped account."""


@dataclass
class Export:
    """One file, the reader that read it, every line it holds and, for a paginated API, its
    pages."""

    path: Path
    reader: UsageReader
    lines: list[BilledUsage]
    pages: list[Page] = field(default_factory=list)


@dataclass
class Scope:
    """What the exports cover for one provider: days ``first`` to ``last`` in ``timezone``, the
    legs, and whether accounts are compared per project."""

    provider: str
    timezone: str
    first: datetime.date
    last: datetime.date
    legs: set[str] = field(default_factory=set)
    per_project: bool = False
    all_models: set[str] = field(default_factory=set)
    """Legs whose lines bill every model together (:data:`~.billed.ALL_MODELS`)."""
    partial: dict[tuple[datetime.date, str], tuple[Span, ...]] = field(default_factory=dict)
    """(day, leg) the exports cover only in part: the intervals covered, ``[start, end)``.
    Our records of that day and leg are compared over these intervals only."""


def pick_reader(path: Path, readers: Sequence[UsageReader], generic: UsageReader) -> UsageReader:
    """The reader whose ``sniff`` claims ``path``: exactly one provider reader, else the generic
    one when it claims the file."""
    try:
        with path.open("rb") as f:
            head = f.read(HEAD_BYTES)
    except OSError as exc:
        raise BadInput(f"{path}: {exc.strerror or exc}") from None
    claims = [r for r in readers if _sniffs(r, path.name, head)]
    if not claims and _sniffs(generic, path.name, head):
        claims = [generic]
    if len(claims) == 1:
        return claims[0]
    if claims:
        names = ", ".join(r.name for r in claims)
        raise BadInput(f"{path}: several readers recognise it ({names}); choose one with --reader")
    known = ", ".join(r.name for r in (*readers, generic))
    raise BadInput(f"no reader recognises {path}; known formats: {known} (see --list-readers)")


def _sniffs(reader: UsageReader, name: str, head: bytes) -> bool:
    try:
        return bool(reader.sniff(name, head))
    except Exception:  # a reader that cannot look at a file does not claim it
        return False


def read_exports(
    paths: Iterable[Path], pick, seen: Callable[[], object] = lambda: None
) -> list[Export]:
    """Read every file fully with the reader ``pick(path)`` chooses, calling ``seen()`` after
    each line or page (a progress count). Raises ``ExportError`` (malformed file) or
    :class:`BadInput` before anything is compared."""
    exports = []
    for path in paths:
        reader = pick(path)
        lines, pages = [], []
        try:
            for item in reader.read(path):
                seen()
                if isinstance(item, Page):
                    pages.append(item)
                else:
                    lines.append(_checked(reader, item))
        except (ExportError, BadInput):
            raise
        except OSError as exc:
            raise BadInput(f"{path}: {exc.strerror or exc}") from None
        except Exception as exc:
            raise BadInput(
                f"{path}: the {reader.name} reader failed: {type(exc).__name__}: {exc}"
            ) from None
        exports.append(Export(path, reader, lines, pages))
    return exports


def _checked(reader: UsageReader, line: object) -> BilledUsage:
    """A reader's line, held to the contract: a ``BilledUsage`` of its provider, Decimal units
    and cost (integers are taken as they are exact)."""
    if not isinstance(line, BilledUsage):
        raise BadInput(
            f"the {reader.name} reader produced {type(line).__name__}, not BilledUsage or Page"
        )
    if reader.provider and line.provider != reader.provider:
        raise BadInput(
            f"the {reader.name} reader produced a line for {line.provider!r} ({line.source})"
        )
    amounts: tuple[object, ...] = (*line.units.values(), line.cost_usd)  # a reader's, unchecked
    for value in amounts:
        if value is not None and (isinstance(value, bool) or not isinstance(value, Decimal | int)):
            raise BadInput(
                f"the {reader.name} reader produced {value!r} ({line.source}): amounts are Decimal"
            )
    return line


def scopes(
    exports: Sequence[Export],
    since: datetime.date | None = None,
    until: datetime.date | None = None,
    account_map: Mapping[str, str] | None = None,
) -> dict[str, Scope]:
    """Per provider in the files: its time zone, days (``since`` inclusive to ``until``
    exclusive, else from the first to the last day of the files it appears in: a day without
    a line for it in a file that covers that day is a day it billed nothing), legs and whether
    its accounts are mapped to projects."""
    found: dict[str, Scope] = {}
    accounts: dict[str, set[bool]] = {}
    for export in exports:
        if not export.lines:
            continue
        first = min(line.day for line in export.lines)
        last = max(line.day for line in export.lines)
        reader = export.reader
        for line in export.lines:
            scope = found.get(line.provider)
            if scope is None:
                scope = found[line.provider] = Scope(line.provider, reader.timezone, first, last)
            elif scope.timezone != reader.timezone:
                raise BadInput(
                    f"{line.provider} exports in two time zones ({scope.timezone}, "
                    f"{reader.timezone}): reconcile them separately"
                )
            scope.first, scope.last = min(scope.first, first), max(scope.last, last)
            scope.legs.update(reader.legs or (line.leg,))
            if line.model == ALL_MODELS and (line.units or line.cost_usd is not None):
                scope.all_models.add(line.leg)  # not for nothing_billed() markers
            accounts.setdefault(line.provider, set()).add(line.account is not None)
    for provider, scope in found.items():
        if since is not None:
            scope.first = since
        if until is not None:
            scope.last = until - datetime.timedelta(days=1)
        if account_map:
            if accounts[provider] == {True, False}:
                raise BadInput(
                    f"some {provider} lines name an account and some do not: --account-map "
                    "needs every line to name one"
                )
            scope.per_project = accounts[provider] == {True}
    _find_partial_days(exports, found)
    return found


def _find_partial_days(exports: Sequence[Export], found: Mapping[str, Scope]) -> None:
    """Fill each scope's ``partial``: the (day, leg) the lines' buckets cover only in part.
    Every format of a provider must cover a day and leg alike: their figures are compared with
    the same records."""
    spans: dict[tuple[str, datetime.date, str], dict[str, list[Span] | None]] = {}
    for export in exports:
        zone = ZoneInfo(export.reader.timezone)
        for line in export.lines:
            per_reader = spans.setdefault((line.provider, line.day, line.leg), {})
            name = export.reader.name
            if line.covers is None:
                per_reader[name] = None
                continue
            _check_within(line, zone, name)
            covers = per_reader.setdefault(name, [])
            if covers is not None:
                covers.append(line.covers)
    for (provider, day, leg), per_reader in spans.items():
        zone = ZoneInfo(found[provider].timezone)
        covered = {
            name: None if parts is None else _merge(parts, day, zone)
            for name, parts in per_reader.items()
        }
        if len(set(covered.values())) > 1:
            described = "; ".join(
                f"{name} covers {_describe_spans(parts)}" for name, parts in covered.items()
            )
            raise BadInput(
                f"{provider} {leg} on {day}: the formats cover different parts of the day "
                f"({described}): export them for the same period"
            )
        merged = next(iter(covered.values()))
        if merged is not None:
            found[provider].partial[(day, leg)] = merged


def _check_within(line: BilledUsage, zone: ZoneInfo, reader: str) -> None:
    start, end = line.covers  # type: ignore[misc]
    midnight, next_midnight = _day_bounds(line.day, zone)
    if start < midnight or end > next_midnight:
        raise BadInput(
            f"the {reader} reader produced a line for {line.day} covering {start.isoformat()} to "
            f"{end.isoformat()}, outside that day ({line.source})"
        )


def _merge(parts: list[Span], day: datetime.date, zone: ZoneInfo) -> tuple[Span, ...] | None:
    """The union of ``parts`` as sorted disjoint intervals; None when it is the whole day."""
    merged: list[Span] = []
    for start, end in sorted(parts):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return None if merged == [_day_bounds(day, zone)] else tuple(merged)


def _day_bounds(day: datetime.date, zone: ZoneInfo) -> Span:
    start = datetime.datetime.combine(day, datetime.time(), zone)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(), zone)
    return start, end


def _describe_spans(parts: tuple[Span, ...] | None) -> str:
    if parts is None:
        return "the whole day"
    return ", ".join(f"{start.isoformat()} to {end.isoformat()}" for start, end in parts)


def incomplete(exports: Sequence[Export]) -> list[Result]:
    """A flagged ``incomplete`` row for each page that says more follows (``has_more``,
    ``next_page``) when no page of the same format given with it starts where it ends: the
    export stops there, and what the provider billed after it is unknown. Pages given together,
    in one file or several, are joined; the period compared ends where the pages do."""
    starts: dict[str, set[datetime.datetime]] = {}
    for export in exports:
        starts.setdefault(export.reader.name, set()).update(p.start for p in export.pages)
    rows = []
    for export in exports:
        legs = sorted({line.leg for line in export.lines}) or [ALL_MODELS]
        for page in export.pages:
            if page.more is None or page.end in starts[export.reader.name]:
                continue
            day = page.end.astimezone(ZoneInfo(export.reader.timezone)).date()
            detail = (
                f"{page.source} says more follows ({page.more}), but no page given starts "
                f"where it ends, {page.end.isoformat()}: what was billed from then on is "
                f"missing. Fetch the following pages of {export.path.name} and pass them all "
                "together"
            )
            for leg in legs:
                key = Key(export.reader.provider, ALL_MODELS, day, leg)
                theirs = Theirs(sources=[page.source])
                rows.append(Result(key, None, theirs, (), "flagged", "incomplete", detail))
    return rows


def theirs_by_key(
    exports: Sequence[Export],
    found: Mapping[str, Scope],
    account_map: Mapping[str, str] | None = None,
) -> dict[Key, Theirs]:
    """The provider's totals per key within each scope. Lines of one format are summed; two
    formats that give the same figure for a key (a usage report and a cost report both giving
    tokens) must agree, and one format's files must not overlap, so nothing is counted twice."""
    per_reader: dict[Key, dict[str, Theirs]] = {}
    # per format and key, the distinct (file, part of the day) billed, in order: a large
    # export's many lines of one key are checked against the other files once, not each other
    files: dict[tuple[str, Key], dict[tuple[Path, Span | None], None]] = {}
    for export in exports:
        for line in export.lines:
            scope = found[line.provider]
            if not scope.first <= line.day <= scope.last:
                continue
            project = None
            if scope.per_project:
                project = (account_map or {}).get(line.account) if line.account else None
                if project is None:
                    raise BadInput(
                        f"account {line.account!r} ({line.source}) is not in --account-map"
                    )
            key = Key(line.provider, line.model, line.day, line.leg, project)
            billed = files.setdefault((export.reader.name, key), {})
            for seen, covers in billed:
                if seen != export.path and _overlap(covers, line.covers):
                    raise BadInput(
                        f"{seen} and {export.path} both bill {_describe(key)}: the files "
                        "overlap; pass each period once"
                    )
            billed[export.path, line.covers] = None
            per_reader.setdefault(key, {}).setdefault(export.reader.name, Theirs()).add(line)
    return {key: _merge_readers(key, by_reader) for key, by_reader in per_reader.items()}


def _overlap(a: Span | None, b: Span | None) -> bool:
    """Whether two parts of a day overlap (None is the whole day)."""
    return a is None or b is None or (a[0] < b[1] and b[0] < a[1])


def _merge_readers(key: Key, by_reader: Mapping[str, Theirs]) -> Theirs:
    if len(by_reader) == 1:
        return next(iter(by_reader.values()))
    merged = Theirs()
    given: dict[str, str] = {}
    for name, part in by_reader.items():
        figures = {**part.units, **({"cost_usd": part.cost} if part.cost is not None else {})}
        for figure, value in figures.items():
            current = merged.cost if figure == "cost_usd" else merged.units.get(figure)
            if current is not None and current != value:
                raise BadInput(
                    f"{given[figure]} and {name} give different {figure} for {_describe(key)} "
                    f"({current} and {value}): reconcile them separately"
                )
            given.setdefault(figure, name)
            if figure == "cost_usd":
                merged.cost = value
            else:
                merged.units[figure] = value
        merged.sources.extend(part.sources)
    return merged


def _describe(key: Key) -> str:
    project = f" ({key.project})" if key.project else ""
    return f"{key.provider}/{key.model} {key.leg} on {key.day}{project}"


def ours_by_key(rows: Iterable[Mapping[str, Any]], scope: Scope) -> dict[Key, Ours]:
    """Our totals per key from ``voicegateway.ledger.queries.billed_by_day`` rows of one
    provider, for the legs the exports cover; summed across projects unless they are compared
    per project, and across models for a leg the export does not break down by model."""
    ours: dict[Key, Ours] = {}
    for row in rows:
        if row["modality"] not in scope.legs:
            continue
        project = row["project"] if scope.per_project else None
        model = ALL_MODELS if row["modality"] in scope.all_models else row["model"]
        key = Key(row["provider"], model, row["day"], row["modality"], project)
        ours.setdefault(key, Ours()).add(row)
    return ours


def ours_within(
    scope: Scope, query: Callable[..., Iterable[Mapping[str, object]]]
) -> dict[Key, Ours]:
    """Our totals per key for ``scope``, from ``query(first, last, between=None)`` (the ledger's
    ``billed_by_day`` for the scope's provider and time zone): whole days, except the (day, leg)
    the exports cover in part, which sum only the records within the intervals covered
    (``start <= ts < end``)."""
    rows = [
        row
        for row in query(scope.first, scope.last)
        if (row["day"], row["modality"]) not in scope.partial
    ]
    for (day, leg), spans in sorted(scope.partial.items()):
        if not scope.first <= day <= scope.last:
            continue
        for span in spans:
            rows += [
                row
                for row in query(day, day, between=span)
                if row["modality"] == leg and row["day"] == day
            ]
    return ours_by_key(rows, scope)
