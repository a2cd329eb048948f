"""The ``fake`` provider: FakeSTT, FakeLLM and FakeTTS behind VoiceGateway's plugin contract.

Registered through the ``voicegateway`` entry point like any third-party plugin, so tests of
resolution, metering and fallback go through real discovery. It needs no key and has no price.
An agent's ``extra_kwargs`` become the fake's constructor options::

    inference.LLM("fake/fake-llm", extra_kwargs={"reply": "Sure.", "prompt_tokens": 42})

The model name after ``fake/`` is reported as the fake's model. Options by modality: STT
``transcript``, ``utterance_seconds``, ``sample_rate``; LLM ``reply``, ``prompt_tokens``,
``cached_tokens``, ``completion_tokens``; TTS ``streaming``, ``seconds_per_char``; all
``fail_with``. See :mod:`voicegateway_testkit.fakes`.

It also registers a usage reader, ``fake-usage-csv``, so ``voicegw reconcile`` tests exercise
the ``register_usage_readers`` hook through real discovery: a CSV headed
``date,fake_model,modality,quantity,usd`` whose days are in America/Los_Angeles (as a dashboard
in the account's local time would be) and whose ``quantity`` is audio seconds (STT), input
tokens (LLM) or characters (TTS). It covers every leg in full.

Light on purpose: the fakes (and LiveKit) load when a factory is called.
"""

from __future__ import annotations

import csv
import datetime
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

from voicegateway.hookspecs import hookimpl
from voicegateway.providers import BuildRequest, ModelInfo, ProviderSpec
from voicegateway.reconcile.billed import BilledUsage, ExportError, UsageReader

if TYPE_CHECKING:
    from voicegateway_testkit.fakes import FakeLLM, FakeSTT, FakeTTS

VOICEGATEWAY_PLUGIN_API = 1


def make_stt(request: BuildRequest) -> FakeSTT:
    from voicegateway_testkit.fakes import FakeSTT

    options = dict(request.extra)
    if request.language:
        options.setdefault("language", request.language)
    if request.sample_rate:
        options.setdefault("sample_rate", request.sample_rate)
    return FakeSTT(model=request.model, **options)


def make_llm(request: BuildRequest) -> FakeLLM:
    from voicegateway_testkit.fakes import FakeLLM

    return FakeLLM(model=request.model, **request.extra)


def make_tts(request: BuildRequest) -> FakeTTS:
    from voicegateway_testkit.fakes import FakeTTS

    options = dict(request.extra)
    if request.sample_rate:
        options.setdefault("sample_rate", request.sample_rate)
    return FakeTTS(model=request.model, **options)


@hookimpl
def register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(
        ProviderSpec(
            id="fake",
            stt=make_stt,
            llm=make_llm,
            tts=make_tts,
            key_env=(),
            price_catalog=None,
            models=(
                ModelInfo("fake-stt", "stt", "Scripted transcripts, metered per audio second"),
                ModelInfo("fake-llm", "llm", "Scripted replies with configurable token usage"),
                ModelInfo("fake-tts", "tts", "A tone per character, metered per character"),
            ),
            default_models={"stt": "fake-stt", "llm": "fake-llm", "tts": "fake-tts"},
        )
    )


USAGE_HEADER = ("date", "fake_model", "modality", "quantity", "usd")
_QUANTITY = {"stt": "audio_seconds", "llm": "input_tokens", "tts": "characters"}


def read_usage_csv(path: Path) -> Iterator[BilledUsage]:
    """The ``fake-usage-csv`` lines; ``usd`` may be empty (a usage-only line)."""
    with path.open(newline="") as f:
        rows = csv.reader(f)
        next(rows, None)
        for cells in rows:
            where = f"row {rows.line_num}"
            if len(cells) != len(USAGE_HEADER):
                raise ExportError(path.name, where, None, f"expected {len(USAGE_HEADER)} cells")
            day, model, leg, quantity, usd = cells
            if leg not in _QUANTITY:
                raise ExportError(path.name, where, "modality", f"unknown modality {leg!r}")
            try:
                units = {_QUANTITY[leg]: Decimal(quantity)}
                cost = Decimal(usd) if usd else None
                when = datetime.date.fromisoformat(day)
            except (InvalidOperation, ValueError) as exc:
                raise ExportError(path.name, where, None, f"unreadable: {exc}") from None
            yield BilledUsage("fake", model, when, leg, units, cost, source=f"{path.name}:{where}")


@hookimpl
def register_usage_readers(register: Callable[[UsageReader], None]) -> None:
    register(
        UsageReader(
            provider="fake",
            name="fake-usage-csv",
            description="the fake provider's usage CSV (date,fake_model,modality,quantity,usd)",
            timezone="America/Los_Angeles",
            sniff=lambda name, head: head.startswith(",".join(USAGE_HEADER).encode()),
            read=read_usage_csv,
            legs=("stt", "llm", "tts"),
        )
    )
