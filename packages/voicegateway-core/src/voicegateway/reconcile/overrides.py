"""``--write-overrides``: the ``pricing:`` entries (docs/pricing.md) that would make future
records cost what the provider billed, proposed from the ``rate`` rows for a person to review.

Per provider/model, over all its ``rate`` rows:

- records priced with one rate card that has a single rate: that rate becomes the provider's
  cost per unit (their cost over the units, in the rate's own unit: ``audio_minute``, ``mchars``);
- one card with several rates (an LLM's input, cached and output rates): every rate is scaled by
  their cost over ours. One invoice figure cannot tell which rate moved, so the comment says so;
- unpriced records of a speech model: a per-minute (STT) or per-1M-characters (TTS) rate;
- anything else (several cards, an unpriced LLM, no units in the export): a comment saying why
  no entry is proposed.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from decimal import Context, Decimal
from typing import NamedTuple

from voicegateway.pricing.units import UNITS as RATE_UNITS
from voicegateway.reconcile.compare import ZERO, Ours, Result, Theirs, number

METER_UNIT = {"seconds": "audio_seconds", "characters": "characters"}
"""Rate meters priced straight from one record unit."""
_SIGNIFICANT = Context(prec=10)


class _Both(NamedTuple):
    """A ``rate`` row: both sides have the key."""

    result: Result
    ours: Ours
    theirs: Theirs


def proposals(results: Sequence[Result], files: Sequence[str]) -> str:
    """The YAML text: a header, then one commented entry per provider/model."""
    groups: dict[tuple[str, str, str], list[_Both]] = {}
    for result in results:
        if result.cause == "rate" and result.ours is not None and result.theirs is not None:
            key = (result.key.provider, result.key.model, result.key.leg)
            groups.setdefault(key, []).append(_Both(result, result.ours, result.theirs))
    lines = [
        "# pricing: overrides proposed by `voicegw reconcile` on "
        f"{datetime.date.today().isoformat()} from {', '.join(files)}.",
        "# Review them before copying any into voicegw.yaml: an override replaces the model's",
        "# whole rate card (docs/pricing.md). Values are US dollars per unit.",
        "pricing:" if groups else "# no rate differences: nothing to propose",
    ]
    for (provider, model, leg), rows in groups.items():
        lines.append("")
        entry, notes = _propose(leg, rows)
        lines.append(f"  # {provider}/{model} ({leg}): {notes}")
        for row in rows:
            day, project = row.result.key.day, row.result.key.project
            lines.append(
                f"  #   {day}{f' {project}' if project else ''}: ours ${number(row.ours.cost)}, "
                f"theirs ${number(row.theirs.cost)} "
                f"({', '.join(row.theirs.sources) or 'no source'})"
            )
        if entry:
            rates = ", ".join(f"{unit}: {number(rate)}" for unit, rate in entry.items())
            lines.append(f"  {provider}/{model}: {{{rates}}}")
    return "\n".join(lines) + "\n"


def _propose(leg: str, rows: Sequence[_Both]) -> tuple[dict[str, Decimal] | None, str]:
    """The proposed rates (or None) and the comment explaining them."""
    costs = [r.theirs.cost for r in rows if r.theirs.cost is not None and r.result.compared]
    if len(costs) < len(rows):
        return None, "no entry: the export gives no units or no cost for some days"
    ours_cost = sum((row.ours.cost for row in rows), ZERO)
    theirs_cost = sum(costs, ZERO)
    cards = {text for row in rows for text in row.ours.price_rates}
    unpriced = any(row.ours.unpriced for row in rows)
    if unpriced and not cards:
        unit = {"stt": ("audio_minute", "audio_seconds"), "tts": ("mchars", "characters")}.get(leg)
        if unit is None:
            return None, "no entry: our records are unpriced and one cost cannot give token rates"
        return _direct(rows, unit[0], unit[1], theirs_cost, "unpriced")
    if len(cards) != 1 or unpriced:
        return None, "no entry: our records were priced with several rate cards, or partly unpriced"
    old = {unit: Decimal(rate) for unit, rate in json.loads(next(iter(cards))).items()}
    if len(old) == 1:
        (name, rate), meter = next(iter(old.items())), RATE_UNITS[next(iter(old))].meter
        if meter in METER_UNIT:
            return _direct(rows, name, METER_UNIT[meter], theirs_cost, f"{name} {number(rate)}")
    if not ours_cost:
        return None, "no entry: our records cost $0, so there is nothing to scale"
    factor = theirs_cost / ours_cost
    new = {unit: _round(rate * factor) for unit, rate in old.items()}
    was = ", ".join(f"{unit} {number(rate)}" for unit, rate in old.items())
    return new, (
        f"was {was}; every rate scaled by theirs/ours = {number(factor, 8)} (one cost cannot say "
        "which rate moved: check the provider's price list)"
    )


def _direct(
    rows: Sequence[_Both], rate_unit: str, record_unit: str, theirs_cost: Decimal, was: str
) -> tuple[dict[str, Decimal] | None, str]:
    units = sum((row.theirs.units.get(record_unit, ZERO) for row in rows), ZERO)
    if not units:
        return None, f"no entry: the export gives no {record_unit}"
    rate = _round(theirs_cost * RATE_UNITS[rate_unit].per / units)
    return {rate_unit: rate}, f"was {was}; their cost per {rate_unit}: {number(rate)}"


def _round(value: Decimal) -> Decimal:
    """Ten significant digits: an invoice's rounding leaves digits no price list has."""
    return _SIGNIFICANT.create_decimal(value).normalize()
