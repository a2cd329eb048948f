"""Readers for what Deepgram's Management API says a project used and was billed.

Two formats, both the JSON body of a Management API response saved to a file:

- **Usage breakdown**, ``GET /v1/projects/{project_id}/usage/breakdown?grouping=models``
  (https://developers.deepgram.com/reference/manage/usage/breakdown/get): ``{"start", "end",
  "resolution": {"units", "amount"}, "results": [{"hours", "total_hours", "agent_hours",
  "tokens_in", "tokens_out", "tts_characters", "requests", "grouping": {"start", "end",
  "accessor", "endpoint", "feature_set", "models", "method", "tags", "deployment"}}]}``. One line
  per result: ``hours`` of audio become ``audio_seconds`` (STT, ``endpoint`` ``listen``),
  ``tts_characters`` become ``characters`` (TTS, ``speak``). Usage only: no cost. Rows of the
  ``agent`` and ``read`` endpoints are left out (VoiceGateway routes neither). Add
  ``endpoint`` (and ``accessor``, to get the API key as the account) to the grouping when you
  can; without ``endpoint`` the leg comes from the model (``aura*`` is TTS).
- **Billing breakdown**, ``GET /v1/projects/{project_id}/billing/breakdown?grouping=line_item``
  (https://developers.deepgram.com/reference/manage/billing/breakdown/get): ``{"start", "end",
  "resolution", "results": [{"dollars", "grouping": {"start", "end", "accessor", "deployment",
  "line_item", "tags"}}]}``, ``line_item`` like ``streaming::nova-3``. One cost-only line per
  result, in US dollars.

Both must be daily (``resolution`` ``{"units": "day", "amount": 1}``, each group one day); days
are UTC. The older ``GET /v1/projects/{project_id}/usage`` summary is not read: it is deprecated
and documents no per-model figures.

Models are named as our records name them: Deepgram's display names are lower-cased
(``Nova-2`` is ``nova-2``), ``-general`` (the default tier, which ``nova-3`` means) is dropped,
and an Aura-2 voice (``aura-2-thalia-en``) is ``aura-2``, the model the records of
``deepgram/aura-2:<voice>`` carry and the price list prices. Aura-1 voices keep their full name,
as voice-prices prices them.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from voicegateway.plugin_api import TOP, BilledUsage, JsonFile, all_or_nothing

PROVIDER = "deepgram"
SECONDS_PER_HOUR = Decimal(3600)
LEGS_BY_ENDPOINT = {"listen": "stt", "speak": "tts"}
UNROUTED_ENDPOINTS = frozenset({"agent", "read"})
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def sniff_usage_breakdown(name: str, head: bytes) -> bool:
    """A JSON object with the breakdown's ``resolution``/``results`` and its usage fields."""
    return (
        head.lstrip().startswith(b"{")
        and b'"resolution"' in head
        and b'"results"' in head
        and b'"tts_characters"' in head
        and b'"total_hours"' in head
    )


def sniff_billing_breakdown(name: str, head: bytes) -> bool:
    """A JSON object with the breakdown's ``resolution``/``results`` and ``dollars``."""
    return (
        head.lstrip().startswith(b"{")
        and b'"resolution"' in head
        and b'"results"' in head
        and b'"dollars"' in head
        and b'"tts_characters"' not in head
    )


def record_model(name: str) -> str:
    """Deepgram's name for a model, as our records name it (see the module docstring)."""
    model = name.strip().lower()
    if model.startswith("aura-2-"):
        return "aura-2"
    return model.removesuffix("-general")


def leg_of(model: str) -> str:
    return "tts" if model.startswith("aura") else "stt"


@all_or_nothing
def read_usage_breakdown(path: Path) -> Iterator[BilledUsage]:
    """The lines of a usage breakdown (module docstring); ExportError on anything malformed."""
    file = JsonFile(path)
    for where, row in _daily_results(file):
        grouping = file.field(row, where, "grouping", (dict,))
        day = _day(file, f"{where}.grouping", grouping)
        model = _model(file, f"{where}.grouping", grouping)
        endpoint = file.optional(grouping, f"{where}.grouping", "endpoint", (str,))
        if endpoint in UNROUTED_ENDPOINTS:
            continue
        if endpoint is not None and endpoint not in LEGS_BY_ENDPOINT:
            raise file.error(f"{where}.grouping", "endpoint", f"unknown {endpoint!r}")
        leg = LEGS_BY_ENDPOINT[endpoint] if endpoint else leg_of(model)
        hours = file.amount(row, where, "hours")
        characters = file.amount(row, where, "tts_characters")
        if leg == "stt":
            units = {"audio_seconds": hours * SECONDS_PER_HOUR}
        else:
            if characters != characters.to_integral_value():
                raise file.error(where, "tts_characters", f"{characters} is not whole")
            units = {"characters": characters}
        yield BilledUsage(
            provider=PROVIDER,
            model=model,
            day=day,
            leg=leg,
            units=units,
            cost_usd=None,
            account=_account(file, f"{where}.grouping", grouping),
            source=f"{file.name}:{where}",
        )


@all_or_nothing
def read_billing_breakdown(path: Path) -> Iterator[BilledUsage]:
    """The cost lines of a billing breakdown grouped by ``line_item``; ExportError on anything
    malformed."""
    file = JsonFile(path)
    for where, row in _daily_results(file):
        grouping = file.field(row, where, "grouping", (dict,))
        day = _day(file, f"{where}.grouping", grouping)
        item = grouping.get("line_item")
        if not isinstance(item, str) or "::" not in item:
            raise file.error(
                f"{where}.grouping",
                "line_item",
                f"{item!r} is not a line item like 'streaming::nova-3': "
                "request the breakdown with grouping=line_item",
            )
        model = record_model(item.rsplit("::", 1)[1])
        if not model:
            raise file.error(f"{where}.grouping", "line_item", f"{item!r} names no model")
        dollars = file.amount(row, where, "dollars")
        if not dollars:
            continue
        yield BilledUsage(
            provider=PROVIDER,
            model=model,
            day=day,
            leg=leg_of(model),
            units={},
            cost_usd=dollars,
            account=_account(file, f"{where}.grouping", grouping),
            source=f"{file.name}:{where}",
        )


def _daily_results(file: JsonFile) -> Iterator[tuple[str, dict[str, Any]]]:
    """The results of a daily breakdown, each with its JSON path."""
    doc = file.load_object()
    resolution = file.field(doc, TOP, "resolution", (dict,))
    if resolution.get("units") != "day":
        raise file.error(
            "resolution", "units", f"{resolution.get('units')!r}: the export must be daily"
        )
    if file.amount(resolution, "resolution", "amount") != 1:
        raise file.error("resolution", "amount", "the export must be daily (amount 1)")
    yield from file.objects(doc, TOP, "results")


def _day(file: JsonFile, where: str, grouping: dict[str, Any]) -> datetime.date:
    """The one day a group covers: its ``start``, which must equal its ``end``."""
    days = []
    for name in ("start", "end"):
        text = file.field(grouping, where, name, (str,))
        try:
            days.append(datetime.date.fromisoformat(text))
        except ValueError:
            raise file.error(where, name, f"not a YYYY-MM-DD date: {text!r}") from None
    if days[0] != days[1]:
        raise file.error(where, "end", f"the group spans {days[0]}..{days[1]}, not a day")
    return days[0]


def _model(file: JsonFile, where: str, grouping: dict[str, Any]) -> str:
    models = grouping.get("models")
    if not isinstance(models, list) or not models:
        raise file.error(where, "models", "no model: request the breakdown with grouping=models")
    if len(models) > 1 or not isinstance(models[0], str) or not models[0].strip():
        raise file.error(where, "models", f"{models!r} is not one model name")
    if _UUID.match(models[0].strip().lower()):
        raise file.error(
            where, "models", f"{models[0]!r} is a model uuid, not a name VoiceGateway knows"
        )
    return record_model(models[0])


def _account(file: JsonFile, where: str, grouping: dict[str, Any]) -> str | None:
    return file.optional(grouping, where, "accessor", (str,)) or None
