"""Pricing: what a usage record cost, in Decimal US dollars, and where the price came from.

- :mod:`.units`: the names of per-unit rates (the catalog's, and contract units).
- :mod:`.rates`: :class:`Rates` and :class:`Card`, the arithmetic from a record's units to dollars.
- :mod:`.catalog`: voice-prices' catalog, through an on-disk cache.
- :mod:`.resolve`: :func:`rates_for`, which rates apply: an override, the catalog, a local engine.

Imports neither LiveKit nor voice-prices; ``voicegateway.metering.pricing_step.CostTracking`` is
the middleware that prices records as they pass. See docs/pricing.md. The names below load on
first use (PEP 562), so that the config schema can read :mod:`.units` without the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicegateway._lazy import lazy_attributes

if TYPE_CHECKING:
    from voicegateway.pricing.rates import Card, Priced, Rates, Tiers
    from voicegateway.pricing.resolve import price_units, rates_for
    from voicegateway.pricing.units import UNITS

__all__ = ["UNITS", "Card", "Priced", "Rates", "Tiers", "price_units", "rates_for"]

_LAZY = {
    "UNITS": "voicegateway.pricing.units",
    "Card": "voicegateway.pricing.rates",
    "Priced": "voicegateway.pricing.rates",
    "Rates": "voicegateway.pricing.rates",
    "Tiers": "voicegateway.pricing.rates",
    "price_units": "voicegateway.pricing.resolve",
    "rates_for": "voicegateway.pricing.resolve",
}


__getattr__ = lazy_attributes(__name__, _LAZY)
