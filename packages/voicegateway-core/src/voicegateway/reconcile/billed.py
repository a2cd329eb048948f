"""What a provider says it billed, read from its usage export or invoice: :class:`BilledUsage`.

Readers (:class:`UsageReader`) turn one provider's real export format into these lines; the
reconciler compares them with the ledger. Standard library only: ``voicegw reconcile`` loads
readers without LiveKit, an SDK or DuckDB.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from voicegateway.errors import VoiceGatewayError
from voicegateway.records import BILLED_UNIT_FIELDS

ALL_MODELS = "*"
"""The model of a line that bills every model of its provider and leg together (an export with
no model breakdown, such as Cartesia's credits): compared with the sum of our records of all
models for that provider, day and leg."""

LEGS = ("stt", "llm", "tts")
"""Billing legs: the modality a line bills."""

UNITS = BILLED_UNIT_FIELDS
"""Units a line may carry, named as on a usage record. ``input_tokens`` is the whole prompt
(uncached, cache reads and cache writes), as records count it; ``cached_tokens`` and
``cache_creation_tokens`` are the parts of it read from and written to the cache."""


@dataclass(frozen=True, slots=True)
class BilledUsage:
    """One line of what a provider billed: a provider, model, day and leg, its units and cost.

    ``day`` is the billing day in the export's time zone (:attr:`UsageReader.timezone`).
    A reader yields a line for every day (and model) its file covers, zeros included (or, for a
    day with nothing at all, :func:`nothing_billed`): the days of the lines are the period
    compared, so a day the provider billed nothing at the edge of the file must still be there
    for our calls that day to be flagged.
    ``cost_usd`` is None for a usage-only line; a cost-only line has no ``units``. ``account``
    is the provider-side project, workspace or API key id when the export names one. ``source``
    says where in the file the line came from (``usage.json:data[2].results[0]``,
    ``export.csv:row 14``), for messages. ``covers`` is the part of ``day`` the line's bucket
    covers, ``[start, end)``, when it is not the whole day (a usage API asked for a period that
    starts at 14:23 answers a first bucket from 14:23 to midnight): our records are then
    compared over that interval only. None, the default, is the whole day.
    """

    provider: str
    model: str
    day: datetime.date
    leg: str
    units: Mapping[str, Decimal] = field(default_factory=dict)
    cost_usd: Decimal | None = None
    account: str | None = None
    source: str = ""
    covers: tuple[datetime.datetime, datetime.datetime] | None = None

    def __post_init__(self) -> None:
        if self.leg not in LEGS:
            raise ValueError(f"leg must be one of {LEGS}, not {self.leg!r}")
        unknown = set(self.units) - set(UNITS)
        if unknown:
            raise ValueError(f"unknown units {sorted(unknown)}; use {UNITS}")
        if self.covers is not None:
            start, end = self.covers
            if start.tzinfo is None or end.tzinfo is None or not start < end:
                raise ValueError(f"covers must be two aware times, start first: {self.covers}")


def nothing_billed(
    provider: str,
    day: datetime.date,
    leg: str,
    source: str,
    covers: tuple[datetime.datetime, datetime.datetime] | None = None,
) -> BilledUsage:
    """A day (or the part of it ``covers``) the file covers on which nothing was billed for
    ``leg`` (an empty bucket): it brings the day into the period compared, so our calls that
    day are flagged."""
    return BilledUsage(provider, ALL_MODELS, day, leg, {}, None, source=source, covers=covers)


@dataclass(frozen=True, slots=True)
class Page:
    """One response of a paginated export API, as a reader yields it next to its lines: where
    it is (``usage.json:[1]``), the time its buckets cover, ``[start, end)``, and ``more``,
    what in it says more follows (``has_more: true, next_page 'page_AAA'``), None on the last
    page. ``voicegw reconcile`` joins the pages of one format given together, in one file or
    several: a page with more to come must be followed by one that starts where it ends, else
    the export is flagged ``incomplete``."""

    source: str
    start: datetime.datetime
    end: datetime.datetime
    more: str | None


class ExportError(VoiceGatewayError, ValueError):
    """A file that cannot be read as the format it was taken for. Names the file, the row (or
    JSON path) and the column (or field), and what is wrong there; ``voicegw reconcile`` exits 2
    and reports nothing else."""

    def __init__(self, file: str, where: str, column: str | None, problem: str) -> None:
        self.file, self.where, self.column, self.problem = file, where, column, problem
        place = f"{file}: {where}" + (f", column {column!r}" if column else "")
        super().__init__(f"{place}: {problem}")


@dataclass(frozen=True)
class UsageReader:
    """One export or invoice format a provider's dashboard or API produces.

    - ``provider``: our provider id; ``name``: the format (``openai-usage-api``);
      ``description``: what it accepts, with a link to the provider's documentation.
    - ``timezone``: the time zone the export's days are in (``UTC`` for most).
    - ``sniff(file_name, head)``: True when ``head`` (the first 64 KiB) looks like this format;
      cheap, no full parse.
    - ``read(path)``: the lines, raising :class:`ExportError` for anything malformed; a reader
      of a paginated API also yields one :class:`Page` per response the file holds.
    - ``legs``: the legs one file of this format covers in full, even where it has no line
      (Deepgram's usage breakdown covers STT and TTS). Default None: the legs its lines bill,
      so an export of one endpoint (OpenAI's transcription usage) does not flag our LLM calls
      as missing from the bill. Our records of legs outside it are not compared.
    """

    provider: str
    name: str
    description: str
    timezone: str
    sniff: Callable[[str, bytes], bool]
    read: Callable[[Path], Iterator[BilledUsage | Page]]
    legs: tuple[str, ...] | None = None
