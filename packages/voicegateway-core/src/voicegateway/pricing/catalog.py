"""voice-prices' catalog, through a small on-disk cache so that job processes need not import it.

``import voice_prices`` costs about 300 ms and 25 MiB in a fresh process (it brings pydantic and
httpx2), and still 40 ms and 2.7 MiB in a LiveKit job process that has pydantic already: half of
what VoiceGateway may add to a job. So each (catalog provider, model) is looked up in voice-prices
once per machine and installed catalog, and what it says (the rates of each price period, or why
there are none) is kept in ``$XDG_CACHE_HOME/voicegateway/prices-v1-<size>-<mtime>.json``, named
after the installed ``voice_prices/data.py``, so an upgrade starts a new file. Later lookups read
that file (about a millisecond, no import); ``voicegw prices`` fills it too. A cache that cannot be
written (read-only home) only costs the import again.

Always the catalog bundled with the installed voice-prices, never a snapshot that
``voice_prices.UpdatePrices`` downloads: a record's ``price_detail`` names the version, so the
version must determine the rate.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from voicegateway.pricing.rates import Condition, Rate, Tiers

log = logging.getLogger("voicegateway.pricing")

_FORMAT = "v1"
_loaded: dict[Path, dict[str, Any]] = {}


@dataclass(frozen=True, slots=True)
class CatalogPrice:
    """What the catalog says about one model.

    ``label`` names it for a record's ``price_detail`` (``voice-prices 0.11.0 openai/gpt-4o-mini``,
    with the catalog's own provider and model ids). ``periods`` are its price periods, each with
    the condition that puts it in force and its rates by voice-prices field name; voice multipliers
    are folded in at the default voice class, since a record does not know its voice's class.
    ``estimated`` names rates the vendor publishes as estimates, not as what it bills. ``missing``
    says why there is nothing to price with (the provider or model is not in the catalog).
    """

    label: str
    periods: tuple[tuple[Condition | None, dict[str, Rate]], ...] = ()
    free: bool = False
    estimated: frozenset[str] = frozenset()
    missing: str | None = None


def lookup(catalog: str, model: str) -> CatalogPrice:
    """The catalog's prices for ``model`` of the catalog provider ``catalog``."""
    path = cache_path()
    if path is None:
        return CatalogPrice("voice-prices", missing="voice-prices is not installed")
    cache = _loaded.get(path) or _load(path)
    key = f"{catalog}/{model}".lower()
    entry = cache["entries"].get(key)
    if entry is None:
        cache["version"], entry = _from_voice_prices(catalog, model)
        cache["entries"][key] = entry
        _save(path, cache)
    return _price(f"voice-prices {cache['version']}", entry)


def cache_path() -> Path | None:
    """The cache file for the installed catalog; None when voice-prices is not installed."""
    spec = importlib.util.find_spec("voice_prices")
    if spec is None or not spec.submodule_search_locations:
        return None
    data = Path(next(iter(spec.submodule_search_locations))) / "data.py"
    stat = data.stat()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "voicegateway" / f"prices-{_FORMAT}-{stat.st_size}-{stat.st_mtime_ns}.json"


def _load(path: Path) -> dict[str, Any]:
    cache = _read(path) or {"version": None, "entries": {}}
    _loaded[path] = cache
    return cache


def _read(path: Path) -> dict[str, Any] | None:
    try:
        cache = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(cache, dict) or not isinstance(cache.get("entries"), dict):
        return None
    return cache


def _save(path: Path, cache: dict[str, Any]) -> None:
    """Write atomically, keeping entries other processes added since this one read the file."""
    on_disk = _read(path)
    if on_disk is not None:
        cache["entries"] = {**on_disk["entries"], **cache["entries"]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial_file = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        partial_file.write_text(json.dumps(cache, sort_keys=True), encoding="utf-8")
        os.replace(partial_file, path)
    except OSError as error:
        log.debug("cannot write the prices cache %s: %s", path, error)


# --- from voice-prices (imported only here) ------------------------------------------------------


def _from_voice_prices(catalog: str, model: str) -> tuple[str, dict[str, Any]]:
    """(version, entry): the catalog's prices for the model as JSON-ready data."""
    from voice_prices import __version__, types
    from voice_prices.data import providers
    from voice_prices.data_snapshot import find_provider_by_id

    provider = find_provider_by_id(providers, catalog)
    if provider is None:
        return __version__, {"missing": f"has no provider {catalog!r}"}
    found = provider.find_model(model, all_providers=providers)
    if found is None:
        return __version__, {"missing": f"has no model {model!r} for {provider.id}"}
    prices = found.prices
    if isinstance(prices, types.ModelPrice):
        periods: list[tuple[Any, Any]] = [(None, prices)]
    else:
        periods = [(conditional.constraint, conditional.prices) for conditional in prices]
    entry: dict[str, Any] = {
        "name": f"{provider.id}/{found.id}",
        "free": found.free,
        "estimated": sorted((found.provenance and found.provenance.estimated_fields) or ()),
    }
    try:
        entry["periods"] = [
            {"when": _when(constraint), "rates": _rates(model_price)}
            for constraint, model_price in periods
        ]
    except TypeError as error:
        return __version__, {"missing": f"prices {found.id} {error}"}
    return __version__, entry


def _when(constraint: Any) -> dict[str, Any] | None:
    """A price condition as data: in force from an instant, or daily between two UTC times."""
    from voice_prices import types

    if constraint is None:
        return None
    if isinstance(constraint, types.StartTimestampConstraint):
        return {"from": constraint.start_timestamp.timestamp()}
    if isinstance(constraint, types.StartDateConstraint):
        start: date = constraint.start_date
        return {"from": datetime.combine(start, time(), tzinfo=UTC).timestamp()}
    if isinstance(constraint, types.TimeOfDateConstraint):
        return {"daily": [_utc_seconds(constraint.start_time), _utc_seconds(constraint.end_time)]}
    raise TypeError(f"under a condition VoiceGateway does not read ({type(constraint).__name__})")


def _utc_seconds(moment: time) -> float:
    offset = moment.utcoffset()
    seconds = moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6
    return seconds - (offset.total_seconds() if offset else 0.0)


def _rates(model_price: Any) -> dict[str, Any]:
    rates: dict[str, Any] = {}
    for name, value in vars(model_price).items():
        if value is None:
            continue
        if isinstance(value, Decimal):
            rates[name] = str(value)
        elif isinstance(value, dict):  # voice_multipliers
            rates[name] = {voice: str(multiplier) for voice, multiplier in value.items()}
        else:  # TieredPrices
            tiers = [[tier.start, str(tier.price)] for tier in value.tiers]
            rates[name] = {"base": str(value.base), "tiers": tiers}
    return rates


# --- from the cache file ----------------------------------------------------------------------


def _price(label: str, entry: dict[str, Any]) -> CatalogPrice:
    if "missing" in entry:
        return CatalogPrice(label, missing=f"{label} {entry['missing']}")
    periods = tuple(
        (_condition(period["when"]), _parse_rates(period["rates"])) for period in entry["periods"]
    )
    return CatalogPrice(
        f"{label} {entry['name']}",
        periods,
        free=entry["free"],
        estimated=frozenset(entry["estimated"]),
    )


def _condition(when: dict[str, Any] | None) -> Condition | None:
    if when is None:
        return None
    if "from" in when:
        return partial(_since, when["from"])
    start, end = when["daily"]
    return partial(_daily, start, end)


def _since(start: float, ts: float) -> bool:
    return ts >= start


def _daily(start: float, end: float, ts: float) -> bool:
    return start <= ts % 86400 < end


def _parse_rates(data: dict[str, Any]) -> dict[str, Rate]:
    multipliers = data.get("voice_multipliers")
    default = Decimal(multipliers["default"]) if multipliers else None
    rates: dict[str, Rate] = {}
    for name, value in data.items():
        if name == "voice_multipliers":
            continue
        if isinstance(value, dict):
            tiers = tuple((start, Decimal(rate)) for start, rate in value["tiers"])
            rates[name] = Tiers(Decimal(value["base"]), tiers)
        else:
            rate = Decimal(value)
            # voice-prices scales these two by the voice class's multiplier
            if default is not None and name in ("input_kchars", "output_audio_kseconds"):
                rate *= default
            rates[name] = rate
    return rates
