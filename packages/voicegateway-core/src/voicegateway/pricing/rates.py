"""Per-unit rates, and the arithmetic that turns one usage record's units into dollars.

:func:`voicegateway.pricing.rates_for` resolves a :class:`Rates` once per (provider, model,
modality); pricing a record is then a few Decimal multiply-adds, never a catalog lookup. The
arithmetic is voice-prices' own (``ModelPrice.calc_price``): cached, cache-write and audio tokens
are carved out of the input total and the rest is text, a tiered rate applies to all of a request's
tokens once its input crosses the threshold, per-thousand units are ``rate * quantity / 1000``. So
a record costs exactly what ``voice_prices.calc_price`` gives for the same usage.

How a record's units map onto the rates, per modality:

- LLM: ``input_tokens`` (all prompt tokens, cached included), ``cached_tokens`` (cache reads),
  ``cache_creation_tokens`` (cache writes), ``output_tokens`` (reasoning included);
- STT: audio seconds (``audio_seconds``, or ``audio_seconds_measured`` when the provider reported
  none) and, for token-billed models, ``input_tokens`` as audio input tokens (the record does not
  split audio from prompt text; transcription input is audio) and ``output_tokens``;
- TTS: ``characters``, audio seconds produced and, for token-billed models, ``input_tokens`` (text)
  and ``output_tokens`` as audio output tokens.

Seconds are priced to the microsecond. A record whose units no rate covers is unpriced, with the
reason, never a silent $0; a record with no units at all costs $0.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from voicegateway.pricing.units import UNITS
from voicegateway.records import UNIT_FIELDS

ZERO = Decimal(0)
_THOUSAND = Decimal(1000)
_MILLION = 1_000_000  # what voice-prices divides token prices by
_UNIT_NAMES = frozenset((*UNIT_FIELDS, "duration_ms"))

Condition = Callable[[float], bool]
"""Whether a price period is in force at a time (epoch seconds)."""


@dataclass(frozen=True, slots=True)
class Tiers:
    """A token rate that depends on the request's input tokens (voice-prices' ``TieredPrices``):
    once the input exceeds a tier's start, every token of the request pays that tier's rate."""

    base: Decimal
    tiers: tuple[tuple[int, Decimal], ...]
    """(start, rate), ascending by start."""

    def at(self, input_tokens: int) -> Decimal:
        for start, rate in reversed(self.tiers):
            if input_tokens > start:
                return rate
        return self.base

    def __str__(self) -> str:
        above = ", ".join(f"{rate} above {start:,} input tokens" for start, rate in self.tiers)
        return f"{self.base} ({above})"


Rate = Decimal | Tiers


def _at(rate: Rate, input_tokens: int) -> Decimal:
    return rate.at(input_tokens) if isinstance(rate, Tiers) else rate


class Quantities(NamedTuple):
    """What a rate card prices in one record, by name. A NamedTuple: built once per record on the
    hot path, where a frozen dataclass costs several times as much to make."""

    input_tokens: int
    cached_tokens: int
    """Of ``input_tokens``, read from the prompt cache."""
    cache_creation_tokens: int
    """Of ``input_tokens``, written to the prompt cache."""
    output_tokens: int
    audio_input_tokens: int
    """Of ``input_tokens``, audio (an STT's tokens)."""
    audio_output_tokens: int
    """Of ``output_tokens``, audio (a TTS's tokens)."""
    characters: int
    seconds: Decimal | int
    """Audio heard (STT) or produced (TTS); an LLM's request time, which only a compute rate
    prices."""
    metered: bool
    """Whether any quantity is one a provider bills (an LLM's seconds are not)."""


_new_quantities = tuple.__new__
"""Makes a :class:`Quantities` from a tuple in field order without the generated ``__new__``'s
Python call: a third of a microsecond per record."""


class Card:
    """One set of per-unit rates by :data:`~voicegateway.pricing.units.UNITS` name, laid out for
    arithmetic. ``estimated`` holds the vendor's published estimates (a per-second figure for a
    model billed per token): they price a record only when none of its billed units is present."""

    __slots__ = (
        "_cache_read",
        "_cache_write",
        "_chars",
        "_input",
        "_input_audio",
        "_json",
        "_output",
        "_output_audio",
        "_requests",
        "_seconds",
        "estimated",
        "rates",
    )

    def __init__(self, rates: Mapping[str, Rate], estimated: Card | None = None) -> None:
        unknown = sorted(set(rates) - set(UNITS))
        if unknown:
            raise ValueError(f"unknown rate units: {', '.join(unknown)}")
        self.rates: dict[str, Rate] = {name: rates[name] for name in UNITS if name in rates}
        self.estimated = estimated
        meters: dict[str, tuple[Rate, int]] = {}
        for name, rate in self.rates.items():
            unit = UNITS[name]
            if unit.meter in meters:
                other = next(n for n in self.rates if UNITS[n].meter == unit.meter)
                raise ValueError(f"{other} and {name} both price {unit.meter}: keep one")
            meters[unit.meter] = (rate, unit.per)

        def priced(meter: str) -> Rate | None:
            found = meters.get(meter)
            return None if found is None else found[0]

        def flat(meter: str) -> tuple[Decimal, int] | None:
            found = meters.get(meter)
            if found is not None and isinstance(found[0], Tiers):
                raise ValueError(f"{meter} rates cannot be tiered (tiers are by input tokens)")
            return found  # type: ignore[return-value]  # narrowed above: (Decimal, per)

        self._input = priced("input")
        self._cache_read = priced("cache_read")
        self._cache_write = priced("cache_write")
        self._input_audio = priced("input_audio")
        self._output = priced("output")
        self._output_audio = priced("output_audio")
        self._chars = flat("characters")
        self._seconds = flat("seconds")
        self._requests = flat("requests")
        tiered = any(isinstance(r, Tiers) for r in self.rates.values())
        self._json = None if tiered else _rates_json(self.rates, 0)

    def applied(self, input_tokens: int) -> str:
        """The rates this card applies to a request, as JSON text (tier rates resolved)."""
        return self._json or _rates_json(self.rates, input_tokens)

    def cost(self, quantities: Quantities) -> tuple[Decimal, bool]:
        """USD for ``quantities``, and whether any rate covered a non-zero one."""
        total = ZERO
        covered = False
        tokens_in, tokens_out = quantities.input_tokens, quantities.output_tokens
        if tokens_in or tokens_out:
            audio = quantities.audio_input_tokens if self._input_audio is not None else 0
            read = quantities.cached_tokens if self._cache_read is not None else 0
            write = quantities.cache_creation_tokens if self._cache_write is not None else 0
            if self._input is not None:
                text = tokens_in - read - write - audio
                if text > 0:
                    total += _at(self._input, tokens_in) * text / _MILLION
                    covered = True
            for rate, count in (
                (self._cache_read, read),
                (self._cache_write, write),
                (self._input_audio, audio),
            ):
                if count and rate is not None:
                    total += _at(rate, tokens_in) * count / _MILLION
                    covered = True
            spoken = quantities.audio_output_tokens if self._output_audio is not None else 0
            if self._output is not None:
                text = tokens_out - spoken
                if text > 0:
                    total += _at(self._output, tokens_in) * text / _MILLION
                    covered = True
            if spoken and self._output_audio is not None:
                total += _at(self._output_audio, tokens_in) * spoken / _MILLION
                covered = True
        chars, seconds = quantities.characters, quantities.seconds
        if chars and self._chars is not None:
            rate, per = self._chars
            total += rate * chars / per
            covered = True
        if seconds and self._seconds is not None:
            rate, per = self._seconds
            total += rate * seconds / per
            covered = True
        if covered and self._requests is not None:
            total += self._requests[0] / _THOUSAND
        return total, covered


def _rates_json(rates: Mapping[str, Rate], input_tokens: int) -> str:
    return json.dumps({name: str(_at(rate, input_tokens)) for name, rate in rates.items()})


class Priced(NamedTuple):
    """What pricing one record or one set of units gives: the four fields of a record."""

    cost: Decimal | None
    source: str
    detail: str
    rates: str | None


class Rates:
    """The rates that apply to one provider's model for one modality, and where they came from.

    ``source`` is ``catalog``, ``override``, ``local`` or ``unpriced``; ``detail`` names the catalog
    and its version, the voicegw.yaml entry, or why nothing applies. ``periods`` are the catalog's
    price periods in its order, each with the condition that puts it in force (None: always); the
    last period in force applies, else the first (voice-prices' rule). ``free``: nothing is owed
    when no rate covers a record (a local engine without a configured rate, a free model).
    """

    __slots__ = ("_free", "_periods", "detail", "modality", "model", "provider", "source")

    def __init__(
        self,
        provider: str,
        model: str,
        modality: str,
        source: str,
        detail: str,
        periods: Sequence[tuple[Condition | None, Card]] = (),
        *,
        free: bool = False,
    ) -> None:
        self.provider, self.model, self.modality = provider, model, modality
        self.source, self.detail = source, detail
        self._periods = tuple(periods)
        self._free = free

    def __repr__(self) -> str:
        return f"Rates({self.provider}/{self.model} {self.modality}: {self.source}, {self.detail})"

    @property
    def varies(self) -> bool:
        """The rates depend on when the request is made (promotions, off-peak hours)."""
        return len(self._periods) > 1

    def card(self, ts: float | None = None) -> Card | None:
        """The rate card in force at ``ts`` (epoch seconds, default now); None when unpriced."""
        periods = self._periods
        if len(periods) <= 1:
            return periods[0][1] if periods else None
        ts = time.time() if ts is None else ts
        for active, card in reversed(periods):
            if active is None or active(ts):
                return card
        return periods[0][1]

    @property
    def rates(self) -> dict[str, Rate]:
        """The per-unit rates in force now, by unit name."""
        card = self.card()
        return card.rates if card is not None else {}

    def price(self, record: Any) -> None:
        """Set the record's ``cost_usd``, ``price_source``, ``price_detail`` and ``price_rates``."""
        quantities = _quantities(
            self.modality,
            input_tokens=record.input_tokens,
            cached_tokens=record.cached_tokens,
            cache_creation_tokens=record.cache_creation_tokens,
            output_tokens=record.output_tokens,
            characters=record.characters,
            audio_seconds=record.audio_seconds,
            audio_seconds_measured=record.audio_seconds_measured,
            duration_ms=record.duration_ms,
        )
        priced = self._evaluate(quantities, record.ts)
        record.cost_usd, record.price_source, record.price_detail, record.price_rates = priced

    def evaluate(self, units: Mapping[str, int | float | Decimal]) -> Priced:
        """Price ``units`` (record unit names, plus ``duration_ms``) as a record made now."""
        unknown = sorted(set(units) - _UNIT_NAMES)
        if unknown:
            raise ValueError(f"unknown units: {', '.join(unknown)}")
        get = units.get
        quantities = _quantities(
            self.modality,
            input_tokens=int(get("input_tokens", 0)),
            cached_tokens=int(get("cached_tokens", 0)),
            cache_creation_tokens=int(get("cache_creation_tokens", 0)),
            output_tokens=int(get("output_tokens", 0)),
            characters=int(get("characters", 0)),
            audio_seconds=get("audio_seconds", 0),
            audio_seconds_measured=get("audio_seconds_measured", 0),
            duration_ms=get("duration_ms"),
        )
        return self._evaluate(quantities, None)

    def cost(self, units: Mapping[str, int | float | Decimal]) -> Decimal | None:
        """USD for ``units``; None when unpriced."""
        return self.evaluate(units).cost

    def _evaluate(self, quantities: Quantities, ts: float | None) -> Priced:
        card = self.card(ts)
        if card is None:
            return Priced(None, "unpriced", self.detail, None)
        total, covered = card.cost(quantities)
        if covered or not quantities.metered or self._free:
            return Priced(total, self.source, self.detail, card.applied(quantities.input_tokens))
        if card.estimated is not None:
            total, covered = card.estimated.cost(quantities)
            if covered:
                detail = f"{self.detail}, at the vendor's estimate: the record has no billed units"
                return Priced(total, self.source, detail, card.estimated.applied(0))
        billed = ", ".join(card.rates) or "nothing"
        detail = f"{self.detail} bills {billed}; the record has {_describe(quantities)}"
        return Priced(None, "unpriced", detail, None)


def _quantities(
    modality: str,
    *,
    input_tokens: int,
    cached_tokens: int,
    cache_creation_tokens: int,
    output_tokens: int,
    characters: int,
    audio_seconds: float | Decimal,
    audio_seconds_measured: float | Decimal,
    duration_ms: float | Decimal | None,
) -> Quantities:
    """A record's units as a rate card prices them.

    STT input tokens are audio tokens and TTS output tokens are audio tokens; an LLM's seconds are
    its request time, which only a compute rate prices (it is not a unit a provider bills).
    """
    if modality == "stt":
        seconds = _seconds(audio_seconds or audio_seconds_measured)
        audio_in, audio_out = input_tokens, 0
    elif modality == "tts":
        seconds = _seconds(audio_seconds)
        audio_in, audio_out = 0, output_tokens
    else:
        seconds = _seconds(duration_ms / 1000) if duration_ms else 0
        audio_in = audio_out = 0
    metered = bool(input_tokens or output_tokens or characters or (seconds and modality != "llm"))
    quantities = (
        input_tokens,
        cached_tokens,
        cache_creation_tokens,
        output_tokens,
        audio_in,
        audio_out,
        characters,
        seconds,
        metered,
    )
    return _new_quantities(Quantities, quantities)


def _seconds(value: float | Decimal) -> Decimal | int:
    if not value:
        return 0
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(round(value, 6)))


def _describe(quantities: Quantities) -> str:
    parts = [
        f"{count} {what}"
        for count, what in (
            (quantities.input_tokens, "input tokens"),
            (quantities.output_tokens, "output tokens"),
            (quantities.characters, "characters"),
            (quantities.seconds, "seconds"),
        )
        if count
    ]
    return ", ".join(parts) or "no units"
