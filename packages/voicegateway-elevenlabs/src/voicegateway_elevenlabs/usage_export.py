"""Reader for ElevenLabs' character usage, ``GET /v1/usage/character-stats``.

https://elevenlabs.io/docs/api-reference/usage/get (OpenAPI ``UsageCharactersResponseModel``):
the response is ``{"time": [<unix ms>, ...], "usage": {"<breakdown key>": [<value>, ...]}}``,
one value per time bucket under each key. Request it as
``?start_unix=<00:00:00 UTC, ms>&end_unix=<ms>&aggregation_interval=day&breakdown_type=model
&metric=tts_characters`` and save the body:

- ``breakdown_type=model`` keys the series by model id (``eleven_turbo_v2_5``), as our records
  name the model. Any other breakdown (``none`` gives ``All``, ``voice`` gives voice ids) is
  refused: it cannot be compared per model.
- ``metric=tts_characters`` counts characters. The API's default metric is ``credits``, which
  is not characters for every model (Flash and Turbo cost half a credit a character); the body
  does not say which metric it holds, so a fractional value, which only credits can be, is
  refused, and the request must be made with ``metric=tts_characters``.
- ``aggregation_interval=day`` from a UTC midnight: every ``time`` must be a UTC midnight, one
  day apart. Days are UTC.

Only text-to-speech models (``eleven_*``, not speech-to-speech ``*_sts_*`` or text-to-voice
``*_ttv_*``) become lines: VoiceGateway routes only ElevenLabs TTS. The endpoint carries no
cost and no account (ask with an API key of its own to reconcile one key). ElevenLabs marks it
deprecated in favour of ``POST /v1/workspace/analytics/query/usage-by-product-over-time``,
whose credit-by-product table has no per-model character count to reconcile.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from pathlib import Path

from voicegateway.plugin_api import TOP, BilledUsage, JsonFile, all_or_nothing, utc_day_from_seconds

PROVIDER = "elevenlabs"
DAY_MS = 86_400_000
# Every ElevenLabs model id is snake case with a version: eleven_turbo_v2_5, eleven_v3, scribe_v1.
_MODEL_ID = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*_v\d+(_[a-z0-9]+)*$")


def sniff_character_stats(name: str, head: bytes) -> bool:
    """A JSON object with the response's ``time`` axis and ``usage`` series."""
    text = head.lstrip()
    return text.startswith(b"{") and b'"time"' in text and b'"usage"' in text


def is_tts_model(model: str) -> bool:
    return model.startswith("eleven_") and "_sts_" not in model and "_ttv_" not in model


@all_or_nothing
def read_character_stats(path: Path) -> Iterator[BilledUsage]:
    """The TTS lines of a ``character-stats`` body (module docstring); ExportError on anything
    malformed."""
    file = JsonFile(path)
    doc = file.load_object()
    days = _days(file, doc)
    usage = file.field(doc, TOP, "usage", (dict,))
    for key, series in usage.items():
        if not _MODEL_ID.match(key):
            raise file.error(
                "usage", key, "not a model id: request the stats with breakdown_type=model"
            )
        if not isinstance(series, list) or len(series) != len(days):
            raise file.error(f"usage.{key}", key, f"not a list of {len(days)} values, one per time")
        for j in range(len(series)):
            where = f"usage.{key}[{j}]"
            characters = file.amount(series, where, j, key)
            if characters != characters.to_integral_value():
                raise file.error(
                    where,
                    key,
                    f"{characters} is not a whole number of characters (credits?): request "
                    "metric=tts_characters",
                )
            if is_tts_model(key):  # zero too: the day is covered, and billed nothing
                yield BilledUsage(
                    provider=PROVIDER,
                    model=key,
                    day=days[j],
                    leg="tts",
                    units={"characters": characters},
                    cost_usd=None,
                    source=f"{file.name}:{where}",
                )


def _days(file: JsonFile, doc: dict) -> list[datetime.date]:
    """The UTC day of each bucket; the buckets must be whole days, in order."""
    times = file.field(doc, TOP, "time", (list,))
    days = []
    for j in range(len(times)):
        ms = int(file.count(times, f"time[{j}]", j, "time"))
        if ms % DAY_MS:
            raise file.error(
                f"time[{j}]",
                "time",
                f"{ms} is not a UTC midnight: request aggregation_interval=day with start_unix "
                "at 00:00:00 UTC",
            )
        if j and ms - times[j - 1] != DAY_MS:
            raise file.error(
                f"time[{j}]", "time", "not one day after the previous bucket: not daily"
            )
        days.append(utc_day_from_seconds(ms // 1000))
    return days
