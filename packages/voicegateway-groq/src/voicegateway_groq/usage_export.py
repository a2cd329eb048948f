"""Reads Groq's usage activity: the data behind the GroqCloud console's Usage page.

Groq documents no usage export or usage API. Its docs only say that usage, spend and request
logs are in the console, per project (https://console.groq.com/docs/projects), and that spend
updates every 10 to 15 minutes (https://console.groq.com/docs/spend-limits). The Usage page
(https://console.groq.com/dashboard/usage) loads its table from::

    GET https://api.groq.com/platform/v1/organizations/{org_id}/activity
        ?start_date=<unix seconds>&end_date=<unix seconds>

which answers ``{"object": "list", "data": [row, ...], "has_more": false, "next_page": null}``,
one row per UTC day, model, project and API key. This reader takes that response body, saved as
a ``.json`` file (the browser's network panel: *Save response*). Evidence for the shape is two
independent clients that read it, not Groq: ``organization_id, organization_name, project_id,
api_key_id, api_key_name, model, timestamp`` (unix seconds of the UTC midnight that starts the
day), ``num_requests, n_context_tokens_total, n_non_cached_context_tokens_total,
n_generated_tokens_total, num_seconds, num_seconds_billed, plan_id, service_tier, cost``
(US dollars). Its strength is moderate: the field names agree between both clients, but the
endpoint is the console's own and may change without notice.

Mapping to :class:`~voicegateway.plugin_api.BilledUsage` (provider ``groq``):

- Whisper models (``whisper-*``, ``distil-whisper-*``), leg ``stt``: ``audio_seconds`` is
  ``num_seconds_billed``, which includes Groq's 10-second minimum per request, as our records
  do (``num_seconds`` is the audio actually sent and is not compared).
- Text-to-speech models (``*tts*``, ``*orpheus*``), leg ``tts``: cost only, the row carries no
  character count.
- Every other model, leg ``llm``: ``input_tokens`` is ``n_context_tokens_total`` (the whole
  prompt, cached part included); ``cached_tokens`` is that minus
  ``n_non_cached_context_tokens_total``; ``output_tokens`` is ``n_generated_tokens_total``.
- ``cost_usd`` is ``cost`` exactly (the JSON number read as a decimal, or a numeric string such
  as ``"$1,234.56"``); a row without ``cost`` is usage-only. ``account`` is ``project_id``.

Errors name the JSON path of the row (``data[3]``) and the field. A response with
``has_more: true`` is one page of several and is refused: nothing partial is reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from voicegateway.plugin_api import TOP, BilledUsage, JsonFile, all_or_nothing, utc_day_from_seconds

PROVIDER = "groq"
NAME = "groq-console-activity"
DESCRIPTION = (
    "Groq console Usage page data: the JSON body of GET api.groq.com/platform/v1/organizations/"
    "{org}/activity, saved from the browser (Groq documents no export; "
    "https://console.groq.com/docs/projects)"
)

_STT_PREFIXES = ("whisper-", "distil-whisper-")
_TTS_MARKERS = ("tts", "orpheus")


def sniff(name: str, head: bytes) -> bool:
    """An activity list: ``"object": "list"`` with Groq's context-token field in its rows."""
    text = head.lstrip()
    return (
        text.startswith(b"{")
        and b'"object"' in text
        and b'"list"' in text
        and b'"n_context_tokens_total"' in text
    )


@all_or_nothing
def read(path: Path) -> Iterator[BilledUsage]:
    """All lines of the file, or :class:`ExportError` before any line if any row is malformed."""
    file = JsonFile(path)
    body = file.load_object()
    if body.get("object") != "list":
        raise file.error(TOP, "object", 'not a Groq activity list ("object": "list")')
    if body.get("has_more") is True:
        raise file.error(TOP, "has_more", "one page of several; save every page as its own file")
    for where, row in file.objects(body, TOP, "data"):
        yield _line(file, where, row)


def _line(file: JsonFile, where: str, row: dict) -> BilledUsage:
    model = row.get("model")
    if not isinstance(model, str) or not model:
        raise file.error(where, "model", "missing model")
    day = utc_day_from_seconds(int(file.amount(row, where, "timestamp")))
    if model.startswith(_STT_PREFIXES):
        leg = "stt"
        units = {"audio_seconds": file.amount(row, where, "num_seconds_billed")}
    elif any(marker in model for marker in _TTS_MARKERS):
        leg, units = "tts", {}
    else:
        leg = "llm"
        prompt = file.amount(row, where, "n_context_tokens_total")
        units = {"input_tokens": prompt}
        if row.get("n_non_cached_context_tokens_total") is not None:
            uncached = file.amount(row, where, "n_non_cached_context_tokens_total")
            if uncached > prompt:
                raise file.error(
                    where,
                    "n_non_cached_context_tokens_total",
                    f"{uncached} is more than n_context_tokens_total {prompt}",
                )
            units["cached_tokens"] = prompt - uncached
        units["output_tokens"] = file.amount(row, where, "n_generated_tokens_total")
    project = row.get("project_id")
    return BilledUsage(
        provider=PROVIDER,
        model=model,
        day=day,
        leg=leg,
        units=units,
        cost_usd=_money(file, where, row.get("cost")),
        account=project if isinstance(project, str) and project else None,
        source=f"{file.name}:{where}",
    )


def _money(file: JsonFile, where: str, value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise file.error(where, "cost", f"not an amount: {value!r}")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str):
        try:
            amount = Decimal(value.strip().removeprefix("$").replace(",", ""))
        except InvalidOperation:
            raise file.error(where, "cost", f"not an amount: {value!r}") from None
        if amount.is_finite():
            return amount
    raise file.error(where, "cost", f"not an amount: {value!r}")
