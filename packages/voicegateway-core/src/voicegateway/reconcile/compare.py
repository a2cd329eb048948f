"""The comparison: our totals against the provider's, per provider, model, day and leg (and
project), each unit and the cost separately, in exact Decimal arithmetic.

A key whose figures differ beyond the tolerances is flagged with one cause, checked in this
order:

- ``timing``: the difference reappears, with the opposite sign, on the neighbouring day of the
  same provider, model and leg; moving it there makes both days agree;
- ``coverage``: one side has nothing for the key;
- ``units``: a unit differs (named, with both values);
- ``rate``: the units agree (or the export gives none) and the cost does not.

Standard library only: the ledger rows come in as plain :class:`Ours` totals.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, overload

from voicegateway.reconcile.billed import UNITS, BilledUsage

ZERO = Decimal(0)


@dataclass(frozen=True)
class Key:
    """What one result row compares. ``project`` is None when accounts are not mapped to
    projects: totals across projects (and accounts) are compared."""

    provider: str
    model: str
    day: datetime.date
    leg: str
    project: str | None = None

    def neighbour(self, days: int) -> Key:
        return Key(
            self.provider,
            self.model,
            self.day + datetime.timedelta(days=days),
            self.leg,
            self.project,
        )


@dataclass
class Ours:
    """Our totals for a key: units as pricing bills them, cost of the priced records, and what
    they were priced with."""

    units: dict[str, Decimal] = field(default_factory=dict)
    cost: Decimal = ZERO
    requests: int = 0
    unpriced: int = 0
    price_sources: set[str] = field(default_factory=set)
    price_details: set[str] = field(default_factory=set)
    price_rates: set[str] = field(default_factory=set)

    def add(self, row: Mapping[str, Any]) -> None:
        """Add one ``voicegateway.ledger.queries.billed_by_day`` row."""
        for unit in UNITS:
            self.units[unit] = self.units.get(unit, ZERO) + Decimal(row[unit] or 0)
        self.cost += row["cost_usd"] or ZERO
        self.requests += int(row["requests"])
        self.unpriced += int(row["unpriced"])
        self.price_sources.update(v for v in row["price_sources"] if v)
        self.price_details.update(v for v in row["price_details"] if v)
        self.price_rates.update(v for v in row["price_rates"] if v)

    @property
    def empty(self) -> bool:
        return not self.cost and not any(self.units.values())


@dataclass
class Theirs:
    """The provider's totals for a key: the units its export gives (only those), its cost
    (None when no line of the key carries one), and where the lines came from."""

    units: dict[str, Decimal] = field(default_factory=dict)
    cost: Decimal | None = None
    sources: list[str] = field(default_factory=list)

    def add(self, line: BilledUsage) -> None:
        for unit, value in line.units.items():
            self.units[unit] = self.units.get(unit, ZERO) + value
        if line.cost_usd is not None:
            self.cost = (self.cost or ZERO) + line.cost_usd
        if line.source:
            self.sources.append(line.source)

    @property
    def empty(self) -> bool:
        return not self.cost and not any(self.units.values())


@dataclass(frozen=True)
class Tolerances:
    """Relative tolerances (0.01 is 1 %) for units and cost, and an absolute one for cost (for
    exports that round to the cent). A difference at the tolerance passes."""

    units: Decimal = Decimal("0.01")
    cost: Decimal = Decimal("0.02")
    cost_absolute: Decimal = ZERO

    def units_agree(self, ours: Decimal, theirs: Decimal) -> bool:
        return abs(ours - theirs) <= self.units * abs(theirs)

    def cost_agrees(self, ours: Decimal, theirs: Decimal) -> bool:
        diff = abs(ours - theirs)
        return diff <= self.cost * abs(theirs) or diff <= self.cost_absolute


@dataclass
class Result:
    """One output row."""

    key: Key
    ours: Ours | None
    theirs: Theirs | None
    compared: tuple[str, ...]
    """The units compared: those the export gives."""
    status: str = "ok"
    cause: str | None = None
    detail: str = ""

    def difference(self, unit: str) -> Decimal | None:
        """Ours minus theirs for ``unit`` (or ``cost``), None when the export lacks it (ours
        always has a figure)."""
        theirs = self.value("theirs", unit)
        return None if theirs is None else self.value("ours", unit) - theirs

    @overload
    def value(self, side: Literal["ours"], unit: str) -> Decimal: ...
    @overload
    def value(self, side: str, unit: str) -> Decimal | None: ...

    def value(self, side: str, unit: str) -> Decimal | None:
        """A side's ``unit`` (or ``cost``): 0 when that side has nothing for the key; None when
        it has the key but does not give that figure (a usage-only export's cost, a unit the
        export does not carry)."""
        if side == "ours":
            if self.ours is None:
                return ZERO
            return self.ours.cost if unit == "cost" else self.ours.units.get(unit, ZERO)
        if self.theirs is None:
            return ZERO
        return self.theirs.cost if unit == "cost" else self.theirs.units.get(unit)

    def shown_units(self) -> list[str]:
        """The units worth showing: those compared and any we recorded."""
        ours = self.ours.units if self.ours else {}
        return [u for u in UNITS if u in self.compared or ours.get(u)]


def compare(
    ours: Mapping[Key, Ours], theirs: Mapping[Key, Theirs], tolerances: Tolerances = Tolerances()
) -> list[Result]:
    """One :class:`Result` per key either side has (empty totals on one side only are left
    out), sorted by key."""
    keys = sorted(
        {k for k, v in ours.items() if not v.empty} | {k for k, v in theirs.items() if not v.empty},
        key=lambda k: (k.provider, k.model, k.leg, k.project or "", k.day),
    )
    results = {k: _judge(k, ours.get(k), theirs.get(k), tolerances) for k in keys}
    _find_timing(results, tolerances)
    return list(results.values())


def _judge(key: Key, ours: Ours | None, theirs: Theirs | None, tol: Tolerances) -> Result:
    compared = tuple(u for u in UNITS if theirs is not None and u in theirs.units)
    result = Result(key, ours, theirs, compared)
    if theirs is None or theirs.empty:
        if ours is None or ours.empty:
            return result
        result.status, result.cause = "flagged", "coverage"
        result.detail = (
            "the provider has no record of these calls: the export misses this day, or the "
            "calls went to another account"
        )
        return result
    if ours is None or ours.empty:
        result.status, result.cause = "flagged", "coverage"
        result.detail = (
            "we recorded nothing: calls that bypassed the gateway (or were recorded in "
            "another ledger)"
        )
        return result
    gaps = [u for u in compared if not tol.units_agree(ours.units.get(u, ZERO), theirs.units[u])]
    if gaps:
        result.status, result.cause = "flagged", "units"
        result.detail = "; ".join(
            f"{u}: ours {number(ours.units.get(u, ZERO))}, theirs {number(theirs.units[u])} "
            f"({_percent(ours.units.get(u, ZERO), theirs.units[u])})"
            for u in gaps
        )
        return result
    if theirs.cost is not None and (ours.unpriced or not tol.cost_agrees(ours.cost, theirs.cost)):
        result.status, result.cause = "flagged", "rate"
        result.detail = _rate_detail(key.leg, ours, theirs, compared)
    return result


def _find_timing(results: dict[Key, Result], tol: Tolerances) -> None:
    """Pair each flagged key with a flagged neighbouring day whose difference is the opposite:
    both become ``timing``. Keys are visited in day order and paired once."""
    for key in sorted(results, key=lambda k: k.day):
        result = results[key]
        if result.status != "flagged" or result.cause == "timing":
            continue
        for days in (-1, 1):
            other = results.get(key.neighbour(days))
            if other is None or other.status != "flagged" or other.cause == "timing":
                continue
            fields = [*sorted(set(result.compared) | set(other.compared)), "cost"]
            if _offsets_cancel(result, other, fields, tol):
                moved = _describe_move(result, fields)
                for this, that in ((result, other), (other, result)):
                    this.cause = "timing"
                    this.detail = (
                        f"{moved}: the difference is offset on {that.key.day} (spend fell on the "
                        "neighbouring day in the provider's time zone)"
                    )
                break


def _offsets_cancel(a: Result, b: Result, fields: Sequence[str], tol: Tolerances) -> bool:
    """Moving ``a``'s difference to ``b`` makes ``b`` agree (``a`` then agrees exactly)."""
    moved_anything = False
    for name in fields:
        diff = a.difference(name)
        if diff is None:  # not comparable on a's day
            continue
        ours_b, theirs_b = b.value("ours", name), b.value("theirs", name)
        if theirs_b is None:
            if diff:
                return False
            continue
        agrees = tol.cost_agrees if name == "cost" else tol.units_agree
        if not agrees(ours_b + diff, theirs_b):
            return False
        moved_anything = moved_anything or bool(diff)
    return moved_anything


def _describe_move(result: Result, fields: Sequence[str]) -> str:
    parts = []
    for name in fields:
        diff = result.difference(name)
        if diff:
            parts.append(f"{name} {'+' if diff > 0 else ''}{number(diff)}")
    return "ours - theirs: " + ", ".join(parts)


def _rate_detail(leg: str, ours: Ours, theirs: Theirs, compared: Sequence[str]) -> str:
    """Our effective rate, theirs, and how we priced."""
    parts = []
    theirs_units = {**ours.units, **{u: theirs.units[u] for u in compared}}
    mine = effective_rate(leg, ours.units, ours.cost)
    other = effective_rate(leg, theirs_units, theirs.cost)
    if mine is not None and other is not None:
        parts.append(
            f"ours ${number(mine[0], 6)}{mine[1]}, theirs ${number(other[0], 6)}{other[1]}"
        )
    else:
        parts.append(f"ours ${number(ours.cost)}, theirs ${number(theirs.cost)}")
    if not compared:
        parts.append("the export gives no units, so only the cost was compared")
    if ours.unpriced:
        parts.append(f"{ours.unpriced} of our {ours.requests} records are unpriced")
    sources = ", ".join(sorted(ours.price_sources - {"unpriced"})) or "unpriced"
    details = "; ".join(sorted(ours.price_details))
    parts.append(f"priced by {sources}" + (f" ({details})" if details else ""))
    if ours.price_rates:
        parts.append("rates " + " | ".join(sorted(ours.price_rates)))
    return "; ".join(parts)


def effective_rate(
    leg: str, units: Mapping[str, Decimal], cost: Decimal | None
) -> tuple[Decimal, str] | None:
    """Cost per unit of what the leg is mostly billed by, and its label: per 1M characters
    (TTS), per minute of audio, else per 1M tokens, input and output blended."""
    if cost is None:
        return None
    if leg == "tts" and units.get("characters"):
        return cost * 1_000_000 / units["characters"], "/1M chars"
    if leg in ("stt", "tts") and units.get("audio_seconds"):
        return cost * 60 / units["audio_seconds"], "/min"
    tokens = units.get("input_tokens", ZERO) + units.get("output_tokens", ZERO)
    if tokens:
        return cost * 1_000_000 / tokens, "/1M tokens (input and output blended)"
    return None


def _percent(ours: Decimal, theirs: Decimal) -> str:
    if not theirs:
        return "theirs is 0"
    return f"{(ours - theirs) / theirs * 100:+.2f}%"


def number(value: Decimal | None, significant: int | None = 12) -> str:
    """Fixed-point text without trailing zeros, at most ``significant`` significant digits
    (None: every digit, exact); ``-`` for None."""
    if value is None:
        return "-"
    if significant is not None and value and value.adjusted() >= -30:
        value = round(value, max(0, significant - 1 - value.adjusted()))
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
