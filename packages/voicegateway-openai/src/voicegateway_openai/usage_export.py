"""Readers for what OpenAI says it billed: its organization Usage API and Costs API results,
saved as JSON: one page object as the API returns it, a list of such pages when the export was
paginated, or the flat list of every page's buckets that OpenAI's Usage API cookbook saves
(``all_data.extend(page["data"])``, https://cookbook.openai.com/examples/completions_usage_api).
A paginated export's pages may also come as one file each, given together.

Usage API (https://platform.openai.com/docs/api-reference/usage): ``GET
/v1/organization/usage/{completions,audio_speeches,audio_transcriptions}`` returns ``{"object":
"page", "data": [bucket], "has_more", "next_page"}``; a bucket is ``{"object": "bucket",
"start_time", "end_time", "results": [...]}`` with unix-second bounds (UTC). Results are
``organization.usage.completions.result`` (``input_tokens``, which counts cached tokens too,
``input_cached_tokens``, ``output_tokens``, ...), ``organization.usage.audio_speeches.result``
(``characters``) and ``organization.usage.audio_transcriptions.result`` (``seconds``), each with
``num_model_requests`` and, for the dimensions the request grouped by, ``model``,
``project_id``, ``user_id``, ``api_key_id``. Export with ``group_by=model`` (and ``project_id``
for per-project lines): a result without a model cannot be compared and is an error.

Costs API (https://platform.openai.com/docs/api-reference/usage/costs): ``GET
/v1/organization/costs`` returns the same page and buckets with ``organization.costs.result``
items: ``amount: {"value": <number, in the currency's units>, "currency": "usd"}``,
``line_item`` and ``project_id``. Export with ``group_by=line_item``. A line item names the
model first (``"gpt-4o-mini-2024-07-18, input"``, ``"gpt-4o-mini-2024-07-18, cached input"``,
``"tts-1"``); the part before the first comma is taken as the model.

Decisions, so the lines compare with our records:

- Pages: a page that says more follows (``has_more: true`` or a ``next_page`` cursor) is
  yielded as a :class:`~voicegateway.plugin_api.Page` spanning its buckets, so
  ``voicegw reconcile`` flags the export ``incomplete`` unless the following page is given too.
  A page with more to come but no bucket is an error. The cookbook's flat list has no page
  fields: its loop fetched every page.
- Day: the bucket's ``start_time`` as a UTC date (OpenAI's buckets are UTC). A bucket that
  spans two UTC days is an error. A bucket that covers part of its day (asked with a
  ``start_time`` that is not midnight, as the cookbook does with ``time.time() - 30 days``, or
  ``bucket_width=1h``) carries its ``[start_time, end_time)``: our records are compared over
  that interval only.
- Model: OpenAI reports the snapshot that served a request (``gpt-4o-mini-2024-07-18``) where
  our records keep the name the agent used (``gpt-4o-mini``). A trailing ``-YYYY-MM-DD`` is
  dropped when the name without it is a model this plugin lists and the dated name is not;
  any other name is kept as given.
- Leg: completions are ``llm``, speeches ``tts``, transcriptions ``stt``. A cost line takes the
  leg of its model: a listed model's modality, else ``transcribe``/``whisper`` names are
  ``stt``, ``tts`` names ``tts``, chat model families (``gpt-``, ``o1``/``o3``/``o4``,
  ``chatgpt-``, ``ft:``) ``llm``. Cost lines of other products (embeddings, images, tool
  calls, storage) have no voice leg and are left out.
- Units: ``input_tokens`` is the whole prompt, as on our records; ``input_cached_tokens`` is the
  part of it read from the cache and ``input_cache_write_tokens`` (when present) the part
  written to it, our ``cache_creation_tokens``; audio token counts are a breakdown our records
  do not carry. Costs are exact: the JSON is parsed with decimals, never floats.
- A costs file none of whose results names a model with a voice leg (line items such as
  ``"input_tokens"``, or only embeddings) cannot be compared: it is an error naming the first
  such result, rather than a silent "nothing to compare".
- Account: ``project_id`` when the export carries it, else ``api_key_id``.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from voicegateway.plugin_api import (
    TOP,
    BilledUsage,
    JsonFile,
    Page,
    all_or_nothing,
    json_type,
    nothing_billed,
    part_of_day,
    snapshot_model_name,
    utc_day_from_seconds,
)
from voicegateway_openai.plugin import MODELS

PROVIDER = "openai"

USAGE_RESULTS = {
    "organization.usage.completions.result": "llm",
    "organization.usage.audio_speeches.result": "tts",
    "organization.usage.audio_transcriptions.result": "stt",
}
COSTS_RESULT = "organization.costs.result"

_LISTED = {model.name: model.modality for model in MODELS}
_SNAPSHOT = re.compile(r"^(?P<base>.+)-\d{4}-\d{2}-\d{2}$")
_CHAT_FAMILIES = ("gpt-", "o1", "o3", "o4", "chatgpt-", "ft:")
_DAY = 86400


def sniff_usage(name: str, head: bytes) -> bool:
    """An OpenAI Usage API page: one of the usage result objects appears."""
    return any(f'"{kind}"'.encode() in head for kind in USAGE_RESULTS)


def sniff_costs(name: str, head: bytes) -> bool:
    """An OpenAI Costs API page."""
    return f'"{COSTS_RESULT}"'.encode() in head


@all_or_nothing
def read_usage(path: Path) -> Iterator[BilledUsage | Page]:
    """The usage lines of a Usage API export; all of the file is checked before any line."""
    return _read(path, _usage_line)


@all_or_nothing
def read_costs(path: Path) -> Iterator[BilledUsage | Page]:
    """The cost lines of a Costs API export; all of the file is checked before any line."""
    return _read(path, _cost_line)


def model_name(reported: str) -> str:
    """The model as our records name it (see the module docstring)."""
    return snapshot_model_name(reported, _LISTED, _SNAPSHOT)


def leg_of(model: str) -> str | None:
    """The leg a cost line of this (normalised) model bills, None for non-voice products."""
    if model in _LISTED:
        return _LISTED[model]
    if "transcribe" in model or model.startswith("whisper"):
        return "stt"
    if "tts" in model:
        return "tts"
    if model.startswith(_CHAT_FAMILIES) and "image" not in model:
        return "llm"
    return None


_Line = Callable[[JsonFile, dict, str, datetime.date], BilledUsage | None]
_Span = tuple[datetime.datetime, datetime.datetime]


def _read(path: Path, line: _Line) -> Iterator[BilledUsage | Page]:
    file = JsonFile(path)
    lines: list[BilledUsage] = []
    pages: list[Page] = []
    empty: list[tuple[datetime.date, _Span | None, str]] = []  # buckets billing nothing
    unused: tuple[str, dict] | None = None  # the first result no line came from
    for where, page, buckets in _pages(file, file.load()):
        spans = []
        for at, bucket in buckets:
            day, covers, span = _bucket_day(file, bucket, at)
            spans.append(span)
            # The API answers "results"; the OpenAPI description of the costs page says "result".
            key = "results" if "results" in bucket or "result" not in bucket else "result"
            results = list(file.objects(bucket, at, key, f"{at}."))
            if not results:
                empty.append((day, covers, at))
            for spot, result in results:
                billed = line(file, result, spot, day)
                if billed is None:
                    unused = unused or (spot, result)
                    continue
                if covers is not None:
                    billed = dataclasses.replace(billed, covers=covers)
                lines.append(billed)
        if page is not None:
            pages += file.page(where, page, spans)
    if unused is not None and not lines:
        spot, result = unused
        raise file.error(
            spot,
            "line_item",
            f"{result.get('line_item')!r} names no chat, transcription or speech model, and no "
            "other result of the file does: nothing in it can be compared. Export the costs "
            "with group_by=line_item, whose line items name the model ('gpt-4o-mini, input')",
        )
    legs = sorted({billed.leg for billed in lines})
    lines += [
        nothing_billed(PROVIDER, d, leg, f"{file.name}:{at}", covers)
        for d, covers, at in empty
        for leg in legs
    ]
    return iter([*lines, *pages])


def _pages(file: JsonFile, document: Any) -> Iterator[tuple[str, dict | None, list]]:
    """``(where, page, buckets)`` for each page of the file; the cookbook's flat list of
    buckets is one page without page fields (``page`` None)."""
    if isinstance(document, list) and document and _is_bucket(document[0]):
        buckets = []
        for i, bucket in enumerate(document):
            if not isinstance(bucket, dict):
                raise file.error(f"[{i}]", None, f"expected a bucket, got {json_type(bucket)}")
            buckets.append((f"[{i}]", bucket))
        yield TOP, None, buckets
        return
    for where, prefix, page in file.pages(document):
        if page.get("object", "page") != "page":
            raise file.error(where, "object", f"expected 'page', got {page['object']!r}")
        yield where, page, list(file.objects(page, where, "data", prefix))


def _is_bucket(item: Any) -> bool:
    return isinstance(item, dict) and (
        item.get("object") == "bucket" or ("start_time" in item and "data" not in item)
    )


def _bucket_day(file: JsonFile, bucket: dict, at: str) -> tuple[datetime.date, _Span | None, _Span]:
    """The bucket's UTC day, the part of it the bucket covers (None: all of it), and its span."""
    start = file.field(bucket, at, "start_time", (int,))
    end = file.field(bucket, at, "end_time", (int,))
    if end <= start:
        raise file.error(at, "end_time", f"end_time {end} is not after start_time {start}")
    if start // _DAY != (end - 1) // _DAY:
        raise file.error(at, "end_time", "the bucket spans more than one UTC day")
    span = (_utc(start), _utc(end))
    return utc_day_from_seconds(start), part_of_day(*span), span


def _utc(seconds: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


def _usage_line(file: JsonFile, result: dict, at: str, day: datetime.date) -> BilledUsage:
    kind = file.field(result, at, "object", (str,))
    if kind not in USAGE_RESULTS:
        raise file.error(at, "object", f"not an OpenAI usage result: {kind!r}")
    leg = USAGE_RESULTS[kind]
    if leg == "llm":
        units = {
            "input_tokens": file.count(result, at, "input_tokens"),
            "cached_tokens": file.count(result, at, "input_cached_tokens", required=False),
            "output_tokens": file.count(result, at, "output_tokens"),
        }
        if units["cached_tokens"] > units["input_tokens"]:
            raise file.error(at, "input_cached_tokens", "more cached tokens than input tokens")
        if result.get("input_cache_write_tokens") is not None:
            written = file.count(result, at, "input_cache_write_tokens")
            if written > units["input_tokens"]:
                raise file.error(
                    at, "input_cache_write_tokens", "more cache-write tokens than input tokens"
                )
            units["cache_creation_tokens"] = written
    elif leg == "tts":
        units = {"characters": file.count(result, at, "characters")}
    else:
        units = {"audio_seconds": file.amount(result, at, "seconds")}
    file.count(result, at, "num_model_requests")
    model = file.optional(result, at, "model", (str,))
    if not model:
        raise file.error(at, "model", "no model: export the usage with group_by=model")
    return BilledUsage(
        provider=PROVIDER,
        model=model_name(model),
        day=day,
        leg=leg,
        units=units,
        cost_usd=None,
        account=_account(file, result, at),
        source=f"{file.name}:{at}",
    )


def _cost_line(file: JsonFile, result: dict, at: str, day: datetime.date) -> BilledUsage | None:
    kind = file.field(result, at, "object", (str,))
    if kind != COSTS_RESULT:
        raise file.error(at, "object", f"not an OpenAI costs result: {kind!r}")
    amount = file.field(result, at, "amount", (dict,))
    currency = file.field(amount, at, "currency", (str,), "amount.currency")
    if currency.lower() != "usd":
        raise file.error(at, "amount.currency", f"only usd amounts are compared, not {currency!r}")
    value = file.amount(amount, at, "value", "amount.value")
    item = file.optional(result, at, "line_item", (str,))
    if not item:
        raise file.error(at, "line_item", "no line item: export the costs with group_by=line_item")
    model = model_name(item.split(",", 1)[0].strip())
    leg = leg_of(model)
    if leg is None:
        return None
    return BilledUsage(
        provider=PROVIDER,
        model=model,
        day=day,
        leg=leg,
        units={},
        cost_usd=value,
        account=_account(file, result, at),
        source=f"{file.name}:{at}",
    )


def _account(file: JsonFile, result: dict, at: str) -> str | None:
    project = file.optional(result, at, "project_id", (str,))
    return project or file.optional(result, at, "api_key_id", (str,))
