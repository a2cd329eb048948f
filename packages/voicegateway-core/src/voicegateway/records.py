"""The shapes every layer shares, at the bottom of the core: a ``Call`` (one chat, recognition or
synthesis), the ``UsageRecord``s it produces (one per billable report from the provider's
plugin), the unit field lists, ``Modality`` and the ``Meter`` signature. Metering makes them;
pricing, the ledger and reconcile read them.

Plain slotted dataclasses: building one costs about 2 µs, and they are built on the agent's hot
path, so no pydantic and no uuid4 here.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

_PROCESS_PREFIX = os.urandom(5).hex()
_counter = itertools.count(1)


def new_id() -> str:
    """A process-unique, globally unlikely-to-collide id: a random per-process prefix and a counter.

    About 150 ns against 1.6 µs for ``uuid4()``. A forked child gets a fresh prefix from
    :func:`_reseed_after_fork`, so parents and children never hand out the same id.
    """
    return f"{_PROCESS_PREFIX}-{next(_counter):x}"


def _reseed_after_fork() -> None:
    global _PROCESS_PREFIX, _counter
    _PROCESS_PREFIX = os.urandom(5).hex()
    _counter = itertools.count(1)


os.register_at_fork(after_in_child=_reseed_after_fork)


Modality = Literal["stt", "llm", "tts"]
MODALITIES: tuple[Modality, ...] = ("stt", "llm", "tts")


@dataclass(slots=True)
class Call:
    """One request to a provider: an LLM chat, an STT stream or recognition, a TTS synthesis."""

    modality: str
    provider: str
    model: str
    project: str
    call_id: str = field(default_factory=new_id)
    ts: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)
    job_id: str | None = None
    room: str | None = None
    session_id: str | None = None
    status: str = "ok"
    error_class: str | None = None
    fallback_from: str | None = None
    records: int = 0
    ended: bool = False
    # What the provider was given but has not reported yet: audio seconds pushed to an STT,
    # characters pushed to a TTS. A report takes its share; what is left at the end becomes a
    # closing record, so audio and text LiveKit never reported are still billed.
    audio_pending: float = 0.0
    chars_pending: int = 0
    # False when the text a TTS call speaks is not counted as pushed (a LiveKit StreamAdapter
    # sends it sentence by sentence): its reports are then taken as they come.
    text_counted: bool = True
    chat_ctx: object = None
    # The plugin's own cap on output tokens (an LLM's max_tokens), for budget reservations.
    output_cap: int | None = None
    # Units a provider plugin read from the provider's own response where LiveKit drops them
    # (see instrument.report_usage); added to the call's next record.
    reported: dict[str, int] | None = None


@dataclass(slots=True)
class UsageRecord:
    """One billable report. Units are what the provider bills for, per modality:

    - STT: ``audio_seconds`` as the provider's plugin reported them, and
      ``audio_seconds_measured`` from the frames VoiceGateway saw pushed (both kept: they differ
      when a provider bills connection time, or when a report is lost at close);
    - LLM: ``input_tokens`` (all prompt tokens, cached ones included), ``cached_tokens``,
      ``cache_creation_tokens``, ``output_tokens`` (reasoning included) and ``reasoning_tokens``;
    - TTS: ``characters`` (counted from the text pushed), and ``audio_seconds`` produced;
    - speech models billed by tokens also carry ``input_tokens``/``output_tokens``.

    Pricing fills ``cost_usd`` (a Decimal, or None when unpriced), ``price_source`` (``catalog``,
    ``override``, ``local`` or ``unpriced``), ``price_detail`` (the catalog and its version, or
    why it is unpriced) and ``price_rates`` (the per-unit rates applied, as JSON text), so a record
    keeps the price it was priced with.
    """

    call_id: str
    modality: str
    provider: str
    model: str
    project: str
    request_id: str = field(default_factory=new_id)
    ts: float = field(default_factory=time.time)
    job_id: str | None = None
    room: str | None = None
    session_id: str | None = None
    audio_seconds: float = 0.0
    audio_seconds_measured: float = 0.0
    input_tokens: int = 0
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    characters: int = 0
    cost_usd: Decimal | None = None
    price_source: str | None = None
    price_detail: str | None = None
    price_rates: str | None = None
    estimated: bool = False
    status: str = "ok"
    fallback_from: str | None = None
    error_class: str | None = None
    ttfb_ms: float | None = None
    duration_ms: float | None = None
    reason: str | None = None
    """Why a ``refused`` call was refused (the budget, rate limit or policy state message)."""

    @classmethod
    def for_call(cls, call: Call) -> UsageRecord:
        return cls(
            call_id=call.call_id,
            modality=call.modality,
            provider=call.provider,
            model=call.model,
            project=call.project,
            job_id=call.job_id,
            room=call.room,
            session_id=call.session_id,
            fallback_from=call.fallback_from,
        )

    def units(self) -> dict[str, float | int]:
        """The non-zero billable units, for display."""
        return {n: getattr(self, n) for n in UNIT_FIELDS if getattr(self, n)}


UNIT_FIELDS = (
    "audio_seconds",
    "audio_seconds_measured",
    "input_tokens",
    "cached_tokens",
    "cache_creation_tokens",
    "output_tokens",
    "reasoning_tokens",
    "characters",
)
BILLED_UNIT_FIELDS = tuple(
    u for u in UNIT_FIELDS if u not in ("audio_seconds_measured", "reasoning_tokens")
)
"""The units providers bill by (measured audio is our own count, reasoning tokens are part of
the output): what ``voicegw reconcile`` compares, each on its own."""
RECORD_FIELDS = tuple(UsageRecord.__dataclass_fields__)
"""The record's fields in order: the spool's JSON keys and the ledger's columns."""


Meter = Callable[[Any, UsageRecord], bool]
"""Reads one LiveKit metrics event (``STTMetrics``, ``LLMMetrics``, ``TTSMetrics``) and writes the
billable units the provider charges for onto the record; returns False when the event carries
nothing billable (LiveKit's connection-acquired reports), so no record is made. The core supplies a
default per modality (:mod:`voicegateway.metering.meters`); a provider registers its own where its
bill differs from what LiveKit reports."""
