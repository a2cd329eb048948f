"""Which rates apply to a provider's model: the operator's, the catalog's, or a local engine's.

In order: an override under ``pricing:`` in voicegw.yaml for ``provider/model``, else one for the
whole ``provider``; an override replaces the catalog's whole rate card for that model, unless it
says ``inherit: true``, when its units replace the catalog's units of the same meter and the rest
still come from the catalog. Without an override, a provider with a catalog id is priced from
voice-prices, and a local engine (no catalog id) costs $0.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Protocol

from voicegateway.pricing.catalog import lookup
from voicegateway.pricing.rates import Card, Priced, Rate, Rates
from voicegateway.pricing.units import CATALOG_SECONDS, UNITS


class Override(Protocol):
    """A ``pricing:`` entry (``voicegateway.config.schema.RateOverride``)."""

    inherit: bool

    def units(self) -> dict[str, Decimal]: ...


def rates_for(
    provider: str,
    model: str,
    modality: str,
    *,
    catalog: str | None,
    overrides: Mapping[str, Override] | None = None,
) -> Rates:
    """The rates for ``provider``'s ``model`` in ``modality``, with their source and detail.

    ``catalog`` is the provider's id in voice-prices (``ProviderSpec.price_catalog``), None for a
    local engine; ``overrides`` is ``Config.pricing``. Resolve once per model and keep the result:
    this may read the catalog, pricing a record with the result does not.
    """
    key, override = _override(overrides or {}, provider, model)
    where = f"pricing.{key} in voicegw.yaml"
    own = [(None, Card(override.units()))] if override is not None else []
    if override is not None and (catalog is None or not override.inherit):
        source = "local" if catalog is None else "override"
        return Rates(provider, model, modality, source, where, own)
    if catalog is None:
        detail = "local engine, no rate under pricing: in voicegw.yaml"
        return Rates(provider, model, modality, "local", detail, [(None, Card({}))], free=True)

    found = lookup(catalog, model)
    if found.missing:
        if override is not None:
            detail = f"{where} ({found.missing})"
            return Rates(provider, model, modality, "override", detail, own)
        return Rates(provider, model, modality, "unpriced", found.missing)
    replaced = override.units() if override is not None else {}
    periods = [
        (when, _card(rates, found.estimated, modality, replaced)) for when, rates in found.periods
    ]
    if not found.free and not any(card.rates or card.estimated for _, card in periods):
        detail = f"{found.label} has no {modality} rate"
        return Rates(provider, model, modality, "unpriced", detail)
    if override is not None:
        return Rates(provider, model, modality, "override", f"{where} over {found.label}", periods)
    return Rates(provider, model, modality, "catalog", found.label, periods, free=found.free)


def price_units(
    provider: str,
    model: str,
    modality: str,
    units: Mapping[str, int | float | Decimal],
    *,
    catalog: str | None = None,
    overrides: Mapping[str, Override] | None = None,
) -> tuple[Decimal | None, str]:
    """What ``units`` (record unit names) would cost on ``provider/model`` now, and the detail.

    For what-if questions about models that may never have run here: ``catalog`` defaults to the
    provider id.
    """
    rates = rates_for(provider, model, modality, catalog=catalog or provider, overrides=overrides)
    priced: Priced = rates.evaluate(units)
    return priced.cost, priced.detail


def _override(
    overrides: Mapping[str, Override], provider: str, model: str
) -> tuple[str, Override | None]:
    for key in (f"{provider}/{model}", provider):
        if key in overrides:
            return key, overrides[key]
    return provider, None


def _card(
    rates: Mapping[str, Rate],
    estimated: frozenset[str],
    modality: str,
    replaced: Mapping[str, Rate],
) -> Card:
    """The catalog's rates that apply to ``modality``, with ``replaced`` units (an inheriting
    override) in place of the catalog's units of the same meter. Estimated rates go apart."""
    seconds = CATALOG_SECONDS.get(modality)
    applicable = {
        name: rate
        for name, rate in rates.items()
        if name in UNITS and (UNITS[name].meter != "seconds" or name == seconds)
    }
    meters = {UNITS[name].meter for name in replaced}
    kept = {n: r for n, r in applicable.items() if UNITS[n].meter not in meters}
    billed = {n: r for n, r in kept.items() if n not in estimated} | dict(replaced)
    guesses = {n: r for n, r in kept.items() if n in estimated}
    return Card(billed, Card(guesses) if guesses else None)
