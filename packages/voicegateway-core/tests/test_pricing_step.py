"""CostTracking: the middleware that prices records as they pass the chain."""

from __future__ import annotations

import json
import textwrap
from decimal import Decimal

import pytest
import voice_prices

from voicegateway.config import load_config
from voicegateway.metering.middleware import MiddlewareChain, Recording
from voicegateway.metering.pricing_step import CostTracking
from voicegateway.records import Call, UsageRecord

CATALOGS = {"openai": "openai", "deepgram": "deepgram", "whisper": None}


@pytest.fixture(autouse=True)
def price_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "voicegw.yaml"
    path.write_text(
        textwrap.dedent(
            """
            pricing:
              deepgram/nova-3: {audio_minute: 0.0036}
              whisper: {compute_hour: 0.4}
            """
        )
    )
    return load_config(path, env={})


def usage(call: Call, **units) -> UsageRecord:
    record = UsageRecord.for_call(call)
    for name, value in units.items():
        setattr(record, name, value)
    return record


def test_records_are_priced_before_they_are_recorded(config):
    log: list[UsageRecord] = []
    chain = MiddlewareChain([CostTracking(config, catalog_for=CATALOGS.get), Recording(log)])
    chat = Call("llm", "openai", "gpt-4o-mini", "app")
    chain.usage(chat, usage(chat, input_tokens=1234, cached_tokens=1000, output_tokens=56))
    listen = Call("stt", "deepgram", "nova-3", "app")
    chain.usage(listen, usage(listen, audio_seconds=30.0))
    local = Call("stt", "whisper", "large-v3", "app")
    chain.usage(local, usage(local, audio_seconds_measured=36.0))
    unknown = Call("llm", "openai", "gpt-9", "app")
    chain.usage(unknown, usage(unknown, input_tokens=7))

    llm, stt, whisper, missing = log
    assert (llm.cost_usd, llm.price_source) == (Decimal("0.0001437"), "catalog")
    assert llm.price_detail == f"voice-prices {voice_prices.__version__} openai/gpt-4o-mini"
    assert (stt.cost_usd, stt.price_source) == (Decimal("0.0018"), "override")
    assert json.loads(stt.price_rates) == {"audio_minute": "0.0036"}
    assert (whisper.cost_usd, whisper.price_source) == (Decimal("0.004"), "local")
    assert (missing.cost_usd, missing.price_source, missing.input_tokens) == (None, "unpriced", 7)
    assert "has no model 'gpt-9'" in missing.price_detail


def test_rates_are_resolved_once_per_model_and_modality(config):
    asked: list[str] = []

    def catalog_for(provider: str) -> str | None:
        asked.append(provider)
        return CATALOGS[provider]

    step = CostTracking(config, catalog_for=catalog_for)
    call = Call("llm", "openai", "gpt-4o-mini", "app")
    for tokens in (10, 20, 30):
        record = usage(call, input_tokens=tokens)
        step.on_usage(call, record)
        assert record.cost_usd == Decimal(tokens) * Decimal("0.15") / 1_000_000
    tts = Call("tts", "openai", "gpt-4o-mini", "app")
    step.on_usage(tts, usage(tts, characters=5))
    assert asked == ["openai", "openai"]


def test_the_config_may_be_given_as_a_function_read_at_the_first_record(config):
    reads: list[int] = []

    def current():
        reads.append(1)
        return config

    step = CostTracking(current, catalog_for=CATALOGS.get)
    assert reads == []
    call = Call("stt", "deepgram", "nova-3", "app")
    record = usage(call, audio_seconds=60.0)
    step.on_usage(call, record)
    assert (record.cost_usd, reads) == (Decimal("0.0036"), [1])
