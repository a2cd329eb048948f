"""The cost step of the middleware chain: prices each usage record as it passes.

Rates are resolved the first time a (provider, model, modality) reports usage in this process, and
kept: later records cost a few microseconds of Decimal arithmetic. Resolving reads the price
cache (:mod:`voicegateway.pricing.catalog`), and imports voice-prices only when the cache has not
seen the model yet. Put it before ``Recording``, so records are stored with their cost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from voicegateway.metering.middleware import Middleware
from voicegateway.pricing import Rates, rates_for
from voicegateway.records import Call, UsageRecord

if TYPE_CHECKING:
    from voicegateway.config.schema import Config


class CostTracking(Middleware):
    """Fills ``cost_usd``, ``price_source``, ``price_detail`` and ``price_rates`` on each record.

    ``config`` is the loaded voicegw.yaml, or a function returning it (the gateway loads its config
    on first use, after building its chain); its ``pricing:`` overrides apply. ``catalog_for``
    gives a provider id's ``ProviderSpec.price_catalog``: its id in voice-prices, or None for a
    local engine. Unpriced records pass on with their units and the reason.
    """

    name = "pricing"

    def __init__(
        self,
        config: Config | Callable[[], Config],
        *,
        catalog_for: Callable[[str], str | None],
    ) -> None:
        self._config = config if callable(config) else (lambda: config)
        self._catalog_for = catalog_for
        self._rates: dict[tuple[str, str, str], Rates] = {}

    def on_usage(self, call: Call, record: UsageRecord) -> None:
        key = (record.provider, record.model, record.modality)
        rates = self._rates.get(key)
        if rates is None:
            rates = self._rates[key] = self._resolve(*key)
        rates.price(record)

    def _resolve(self, provider: str, model: str, modality: str) -> Rates:
        catalog = self._catalog_for(provider)
        overrides = self._config().pricing
        return rates_for(provider, model, modality, catalog=catalog, overrides=overrides)
