"""Reader for Cartesia's credit usage, ``GET /usage/credits``.

https://docs.cartesia.ai/api-reference/usage/credits: the response is ``{"data": [{"start_ts":
"2026-01-01T00:00:00.000Z", "end_ts": "2026-01-02T00:00:00.000Z", "credits": 123}, ...]}``,
buckets in order, empty ones with ``credits: 0``. Request it with ``interval=day`` (buckets are
UTC days) and, to reconcile one API key, ``api_key_id=<key id>``; save the body. It is the only
usage export Cartesia documents: there is no per-model or per-character report, and no cost
(credits come with the plan).

Credits become characters one for one: Cartesia's pricing page
(https://docs.cartesia.ai/pricing) bills text-to-speech at "approximately 1 credit per
character" on every endpoint and every Sonic model ("the exact number of credits can vary
slightly due to transcript pre-processing", which the units tolerance absorbs). Two things the
export cannot separate, so a team that has them must keep them off the key it reconciles:
Pro Voice Clone speech (1.5 credits a character) and Cartesia's STT, voice changer and infill
(credits per second or per request); VoiceGateway routes only Cartesia TTS.

The export names no model, and credits cost the same for every Sonic model, so each day is one
line for the model :data:`ALL_MODELS`: the reconciler compares it with the day's TTS records of
every Cartesia model together.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from voicegateway.plugin_api import ALL_MODELS, TOP, BilledUsage, JsonFile, all_or_nothing

PROVIDER = "cartesia"
CHARACTERS_PER_CREDIT = Decimal(1)


def sniff_credit_usage(name: str, head: bytes) -> bool:
    """A JSON object whose ``data`` buckets carry ``start_ts``, ``end_ts`` and ``credits``."""
    text = head.lstrip()
    return (
        text.startswith(b"{")
        and b'"data"' in text
        and b'"credits"' in text
        and b'"start_ts"' in text
        and b'"end_ts"' in text
    )


@all_or_nothing
def read_credit_usage(path: Path) -> Iterator[BilledUsage]:
    """One TTS line per day with credits (module docstring); ExportError on anything
    malformed."""
    file = JsonFile(path)
    for where, bucket in file.objects(file.load_object(), TOP, "data"):
        start = file.moment(bucket, where, "start_ts").astimezone(datetime.UTC)
        end = file.moment(bucket, where, "end_ts").astimezone(datetime.UTC)
        if start.time() != datetime.time() or end - start != datetime.timedelta(days=1):
            raise file.error(
                where,
                "end_ts",
                f"the bucket {start.isoformat()}..{end.isoformat()} is not one UTC day: "
                "request the usage with interval=day",
            )
        credits = file.amount(bucket, where, "credits")
        yield BilledUsage(  # zero too: the day is covered, and billed nothing
            provider=PROVIDER,
            model=ALL_MODELS,
            day=start.date(),
            leg="tts",
            units={"characters": credits * CHARACTERS_PER_CREDIT},
            cost_usd=None,
            source=f"{file.name}:{where}",
        )
