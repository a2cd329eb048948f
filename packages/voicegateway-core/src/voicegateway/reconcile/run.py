"""From export files to the two sides of the comparison: which reader reads each file, what the
files cover (per provider: the days, in the reader's time zone, and the legs), and the
provider's totals per key. Anything that makes the input unusable raises :class:`BadInput`
(or the reader's :class:`~.billed.ExportError`); nothing is compared then.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from voicegateway.reconcile.billed import ALL_MODELS, BilledUsage, ExportError, UsageReader
from voicegateway.reconcile.compare import Key, Ours, Theirs

HEAD_BYTES = 64 * 1024


class BadInput(ValueError):
    """Input ``voicegw reconcile`` cannot compare: an unrecognised or ambiguous file, a reader
    that broke its contract, overlapping exports, an unmapped account."""


@dataclass
class Export:
    """One file, the reader that read it, and every line it holds."""

    path: Path
    reader: UsageReader
    lines: list[BilledUsage]


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


def read_exports(paths: Iterable[Path], pick) -> list[Export]:
    """Read every file fully with the reader ``pick(path)`` chooses. Raises ``ExportError``
    (malformed file) or :class:`BadInput` before anything is compared."""
    exports = []
    for path in paths:
        reader = pick(path)
        try:
            lines = [_checked(reader, line) for line in reader.read(path)]
        except (ExportError, BadInput):
            raise
        except OSError as exc:
            raise BadInput(f"{path}: {exc.strerror or exc}") from None
        except Exception as exc:
            raise BadInput(
                f"{path}: the {reader.name} reader failed: {type(exc).__name__}: {exc}"
            ) from None
        exports.append(Export(path, reader, lines))
    return exports


def _checked(reader: UsageReader, line: object) -> BilledUsage:
    """A reader's line, held to the contract: a ``BilledUsage`` of its provider, Decimal units
    and cost (integers are taken as they are exact)."""
    if not isinstance(line, BilledUsage):
        raise BadInput(f"the {reader.name} reader produced {type(line).__name__}, not BilledUsage")
    if reader.provider and line.provider != reader.provider:
        raise BadInput(
            f"the {reader.name} reader produced a line for {line.provider!r} ({line.source})"
        )
    for value in (*line.units.values(), line.cost_usd):
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
    return found


def theirs_by_key(
    exports: Sequence[Export],
    found: Mapping[str, Scope],
    account_map: Mapping[str, str] | None = None,
) -> dict[Key, Theirs]:
    """The provider's totals per key within each scope. Lines of one format are summed; two
    formats that give the same figure for a key (a usage report and a cost report both giving
    tokens) must agree, and one format's files must not overlap, so nothing is counted twice."""
    per_reader: dict[Key, dict[str, Theirs]] = {}
    files: dict[tuple[str, Key], Path] = {}
    for export in exports:
        for line in export.lines:
            scope = found[line.provider]
            if not scope.first <= line.day <= scope.last:
                continue
            project = None
            if scope.per_project:
                project = (account_map or {}).get(line.account)
                if project is None:
                    raise BadInput(
                        f"account {line.account!r} ({line.source}) is not in --account-map"
                    )
            key = Key(line.provider, line.model, line.day, line.leg, project)
            seen = files.setdefault((export.reader.name, key), export.path)
            if seen != export.path:
                raise BadInput(
                    f"{seen} and {export.path} both bill {_describe(key)}: the files overlap; "
                    "pass each period once"
                )
            per_reader.setdefault(key, {}).setdefault(export.reader.name, Theirs()).add(line)
    return {key: _merge(key, by_reader) for key, by_reader in per_reader.items()}


def _merge(key: Key, by_reader: Mapping[str, Theirs]) -> Theirs:
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


def ours_by_key(rows: Iterable[Mapping[str, object]], scope: Scope) -> dict[Key, Ours]:
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
