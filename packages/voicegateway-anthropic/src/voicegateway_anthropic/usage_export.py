"""Readers for what Anthropic says it billed: the Usage & Cost Admin API's reports, saved as
JSON (one response as the API returns it, or a list of such responses when the report was
paginated).

Usage report (https://platform.claude.com/docs/en/api/admin/usage_report/retrieve_messages):
``GET /v1/organizations/usage_report/messages`` returns ``{"data": [bucket], "has_more",
"next_page"}``; a bucket is ``{"starting_at", "ending_at", "results": [...]}`` with RFC 3339 UTC
bounds, and a result holds ``uncached_input_tokens``, ``cache_creation:
{"ephemeral_1h_input_tokens", "ephemeral_5m_input_tokens"}``, ``cache_read_input_tokens``,
``output_tokens``, ``server_tool_use`` and, for the dimensions the request grouped by,
``model``, ``workspace_id``, ``api_key_id``, ``service_tier``, ``context_window``. Export with
``group_by[]=model`` (and ``workspace_id`` for per-workspace lines): a result without a model
cannot be compared and is an error.

Cost report (https://platform.claude.com/docs/en/api/admin/cost_report/retrieve):
``GET /v1/organizations/cost_report`` returns the same buckets with results holding ``amount``,
"cost amount in lowest currency units (e.g. cents) as a decimal string" (``"123.45"`` USD is
123.45 cents, $1.2345; the docs round it to $1.23), ``currency`` (``"USD"``), ``cost_type``
(``tokens``, ``web_search``, ``code_execution``, ...), ``token_type``, ``model``,
``description``, ``service_tier``, ``context_window`` and ``workspace_id``. Export with
``group_by[]=description``: without it no line names a model.

Decisions, so the lines compare with our records:

- Day: the bucket's ``starting_at`` as a UTC date. A bucket that spans two UTC days, or bounds
  not in UTC, are errors. A bucket that covers part of its day carries its ``[starting_at,
  ending_at)``: our records are compared over that interval only.
- Pages: each response is yielded as a :class:`~voicegateway.plugin_api.Page`, so a
  report whose ``has_more`` page comes without the pages that follow is flagged
  ``incomplete``.
- Units: a record's ``input_tokens`` is the whole prompt, so a usage line's is
  ``uncached_input_tokens + cache_read_input_tokens`` plus both cache-creation counts;
  ``cached_tokens`` is the cache reads and ``cache_creation_tokens`` the two creation counts.
- Model: a trailing ``-YYYYMMDD`` snapshot date is dropped when the name without it is a model
  this plugin lists and the dated name is not (an agent that asked for ``claude-sonnet-4-5`` is
  billed under ``claude-sonnet-4-5-20250929``); listed dated names such as
  ``claude-sonnet-4-20250514`` are kept, as is any other name.
- Cost: only ``tokens`` costs are read, as ``llm`` lines of their model; server-tool fees
  (web search, code execution, sessions) carry no model and are not metered by the gateway,
  so they are left out. Amounts are converted from cents to dollars exactly; any currency
  other than USD is an error.
- Account: ``workspace_id`` when the export carries it (null is the default workspace), else
  ``api_key_id``.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

from voicegateway.plugin_api import (
    BilledUsage,
    JsonFile,
    Page,
    all_or_nothing,
    nothing_billed,
    part_of_day,
    snapshot_model_name,
)
from voicegateway_anthropic.plugin import MODELS

PROVIDER = "anthropic"

_LISTED = {model.name for model in MODELS}
_SNAPSHOT = re.compile(r"^(?P<base>.+)-\d{8}$")
_CENTS = re.compile(r"^\d+(\.\d+)?$")
_USAGE_KEY = re.compile(rb'"uncached_input_tokens"\s*:')  # a key; cost reports have it as a value
_COST_AMOUNT = re.compile(rb'"amount"\s*:\s*"')


def sniff_usage(name: str, head: bytes) -> bool:
    """An Anthropic messages usage report: RFC 3339 buckets with uncached input counts."""
    return b'"starting_at"' in head and _USAGE_KEY.search(head) is not None


def sniff_costs(name: str, head: bytes) -> bool:
    """An Anthropic cost report: RFC 3339 buckets whose amounts are strings."""
    return b'"starting_at"' in head and _COST_AMOUNT.search(head) is not None


@all_or_nothing
def read_usage(path: Path) -> Iterator[BilledUsage | Page]:
    """The usage lines of a usage report; all of the file is checked before any line."""
    return _read(path, _usage_line)


@all_or_nothing
def read_costs(path: Path) -> Iterator[BilledUsage | Page]:
    """The cost lines of a cost report; all of the file is checked before any line."""
    return _read(path, _cost_line)


def model_name(reported: str) -> str:
    """The model as our records name it (see the module docstring)."""
    return snapshot_model_name(reported, _LISTED, _SNAPSHOT)


_Line = Callable[[JsonFile, dict, str, datetime.date], BilledUsage | None]


def _read(path: Path, line: _Line) -> Iterator[BilledUsage | Page]:
    file = JsonFile(path)
    for where, prefix, report in file.pages(file.load()):
        spans = []
        for at, bucket in file.objects(report, where, "data", prefix):
            span = _bucket_span(file, bucket, at)
            spans.append(span)
            day, covers = span[0].date(), part_of_day(*span)
            results = list(file.objects(bucket, at, "results", f"{at}."))
            if not results:  # a day the report covers and nothing was billed
                yield nothing_billed(PROVIDER, day, "llm", f"{file.name}:{at}", covers)
            for spot, result in results:
                billed = line(file, result, spot, day)
                if billed is not None:
                    yield dataclasses.replace(billed, covers=covers)
        yield from file.page(where, report, spans)


def _bucket_span(
    file: JsonFile, bucket: dict, at: str
) -> tuple[datetime.datetime, datetime.datetime]:
    """The bucket's ``[starting_at, ending_at)``, in UTC and within one UTC day."""
    start = file.moment(bucket, at, "starting_at")
    end = file.moment(bucket, at, "ending_at")
    for name, moment in (("starting_at", start), ("ending_at", end)):
        if moment.utcoffset() != datetime.timedelta(0):
            raise file.error(at, name, f"not in UTC: {bucket[name]!r}")
    if end <= start:
        raise file.error(at, "ending_at", "ending_at is not after starting_at")
    if (end - datetime.timedelta(microseconds=1)).date() != start.date():
        raise file.error(at, "ending_at", "the bucket spans more than one UTC day")
    return start.astimezone(datetime.UTC), end.astimezone(datetime.UTC)


def _usage_line(file: JsonFile, result: dict, at: str, day: datetime.date) -> BilledUsage:
    uncached = file.count(result, at, "uncached_input_tokens")
    read = file.count(result, at, "cache_read_input_tokens")
    creation = file.field(result, at, "cache_creation", (dict,))
    written = sum(
        (
            file.count(creation, at, name, f"cache_creation.{name}")
            for name in ("ephemeral_1h_input_tokens", "ephemeral_5m_input_tokens")
        ),
        Decimal(0),
    )
    output = file.count(result, at, "output_tokens")
    model = file.optional(result, at, "model", (str,))
    if not model:
        raise file.error(at, "model", "no model: export the report with group_by[]=model")
    return BilledUsage(
        provider=PROVIDER,
        model=model_name(model),
        day=day,
        leg="llm",
        units={
            "input_tokens": uncached + read + written,
            "cached_tokens": read,
            "cache_creation_tokens": written,
            "output_tokens": output,
        },
        cost_usd=None,
        account=_account(file, result, at),
        source=f"{file.name}:{at}",
    )


def _cost_line(file: JsonFile, result: dict, at: str, day: datetime.date) -> BilledUsage | None:
    cents = file.field(result, at, "amount", (str,))
    if not _CENTS.match(cents):
        raise file.error(at, "amount", f"not a decimal amount in cents: {cents!r}")
    currency = file.field(result, at, "currency", (str,))
    if currency.upper() != "USD":
        raise file.error(at, "currency", f"only USD amounts are compared, not {currency!r}")
    cost_type = file.optional(result, at, "cost_type", (str,))
    if cost_type is None:
        raise file.error(
            at, "cost_type", "no cost type: export the report with group_by[]=description"
        )
    if cost_type != "tokens":
        return None
    model = file.optional(result, at, "model", (str,))
    if not model:
        raise file.error(at, "model", "a tokens cost without a model")
    return BilledUsage(
        provider=PROVIDER,
        model=model_name(model),
        day=day,
        leg="llm",
        units={},
        cost_usd=Decimal(cents) / 100,
        account=_account(file, result, at),
        source=f"{file.name}:{at}",
    )


def _account(file: JsonFile, result: dict, at: str) -> str | None:
    workspace = file.optional(result, at, "workspace_id", (str,))
    return workspace or file.optional(result, at, "api_key_id", (str,))
