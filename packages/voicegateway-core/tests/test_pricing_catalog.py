"""Catalog prices: every record costs exactly what voice_prices.calc_price gives for its units."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import voice_prices
from voice_prices import Usage, calc_price

from voicegateway.pricing import rates_for
from voicegateway.pricing.catalog import cache_path
from voicegateway.records import UsageRecord

VERSION = voice_prices.__version__


@pytest.fixture(autouse=True)
def price_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def catalog(usage: Usage, provider: str, model: str, when: datetime | None = None) -> Decimal:
    return calc_price(usage, model, provider_id=provider, genai_request_timestamp=when).total_price


def record(provider: str, model: str, modality: str, **units) -> UsageRecord:
    return UsageRecord(
        call_id="c1", modality=modality, provider=provider, model=model, project="p", **units
    )


def priced(provider: str, model: str, modality: str, **units) -> UsageRecord:
    rec = record(provider, model, modality, **units)
    rates_for(provider, model, modality, catalog=provider).price(rec)
    return rec


# --- LLM -------------------------------------------------------------------------------------


def test_llm_with_cached_tokens_is_voice_prices_exactly():
    # input_tokens counts every prompt token, cached ones included, as voice-prices expects
    rec = priced(
        "openai", "gpt-4o-mini", "llm", input_tokens=1234, cached_tokens=1000, output_tokens=56
    )
    expected = catalog(
        Usage(input_tokens=1234, cache_read_tokens=1000, output_tokens=56), "openai", "gpt-4o-mini"
    )
    # 234 uncached at 0.15, 1000 cached at 0.075, 56 out at 0.60, per million
    assert rec.cost_usd == expected == Decimal("0.0001437")
    assert isinstance(rec.cost_usd, Decimal)
    assert rec.price_source == "catalog"
    assert rec.price_detail == f"voice-prices {VERSION} openai/gpt-4o-mini"
    assert json.loads(rec.price_rates) == {
        "input_mtok": "0.15",
        "cache_read_mtok": "0.075",
        "output_mtok": "0.6",
    }


def test_a_dated_model_name_is_priced_as_the_catalog_model_it_matches():
    rec = priced("openai", "gpt-4o-mini-2024-07-18", "llm", input_tokens=100, output_tokens=10)
    assert rec.price_detail == f"voice-prices {VERSION} openai/gpt-4o-mini"
    usage = Usage(input_tokens=100, output_tokens=10)
    assert rec.cost_usd == catalog(usage, "openai", "gpt-4o-mini-2024-07-18")


def test_cache_writes_and_reasoning_tokens():
    rec = priced(
        "anthropic",
        "claude-sonnet-4-5",
        "llm",
        input_tokens=5000,
        cached_tokens=3000,
        cache_creation_tokens=1500,
        output_tokens=700,
        reasoning_tokens=300,  # informational: already inside output_tokens
    )
    usage = Usage(
        input_tokens=5000, cache_read_tokens=3000, cache_write_tokens=1500, output_tokens=700
    )
    assert rec.cost_usd == catalog(usage, "anthropic", "claude-sonnet-4-5")
    assert rec.cost_usd > 0


def test_tiered_rate_applies_to_every_token_above_the_threshold():
    below = priced("openai", "gpt-5.4", "llm", input_tokens=200_000, output_tokens=1_000)
    above = priced(
        "openai", "gpt-5.4", "llm", input_tokens=300_000, cached_tokens=100_000, output_tokens=1_000
    )
    assert below.cost_usd == catalog(
        Usage(input_tokens=200_000, output_tokens=1_000), "openai", "gpt-5.4"
    )
    usage = Usage(input_tokens=300_000, cache_read_tokens=100_000, output_tokens=1_000)
    assert above.cost_usd == catalog(usage, "openai", "gpt-5.4")
    assert json.loads(above.price_rates)["input_mtok"] == "5"
    assert json.loads(below.price_rates)["input_mtok"] == "2.5"


def test_time_of_day_prices_follow_the_record_timestamp():
    peak = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    off_peak = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)
    rates = rates_for("deepseek", "deepseek-chat", "llm", catalog="deepseek")
    assert rates.varies
    usage = Usage(input_tokens=10_000, cache_read_tokens=4_000, output_tokens=800)
    costs = []
    for when in (peak, off_peak):
        rec = record("deepseek", "deepseek-chat", "llm", input_tokens=10_000, cached_tokens=4_000)
        rec.output_tokens, rec.ts = 800, when.timestamp()
        rates.price(rec)
        assert rec.cost_usd == catalog(usage, "deepseek", "deepseek-chat", when)
        costs.append(rec.cost_usd)
    assert costs[0] > costs[1]


def test_a_promotion_starts_and_ends_at_its_instants():
    rates = rates_for("livekit", "gradium/default", "tts", catalog="livekit")
    for when in (
        datetime(2026, 9, 1, tzinfo=UTC),
        datetime(2026, 9, 20, tzinfo=UTC),
        datetime(2026, 10, 9, tzinfo=UTC),
    ):
        rec = record("livekit", "gradium/default", "tts", characters=1234)
        rec.ts = when.timestamp()
        rates.price(rec)
        assert rec.cost_usd == catalog(Usage(characters=1234), "livekit", "gradium/default", when)
    assert rec.cost_usd > 0


# --- STT -------------------------------------------------------------------------------------


def test_stt_per_second_deepgram_nova_3():
    rec = priced("deepgram", "nova-3", "stt", audio_seconds=12.34)
    usage = Usage(audio_input_seconds=Decimal("12.34"))
    assert rec.cost_usd == catalog(usage, "deepgram", "nova-3") == Decimal("0.0009872")
    assert json.loads(rec.price_rates) == {"input_audio_kseconds": "0.08"}


def test_stt_uses_measured_audio_when_the_provider_reported_none():
    rec = priced("deepgram", "nova-3", "stt", audio_seconds_measured=61.5)
    assert rec.cost_usd == catalog(Usage(audio_input_seconds=Decimal("61.5")), "deepgram", "nova-3")
    assert rec.estimated is False  # the unit meter marks estimates; pricing does not


def test_stt_seconds_are_priced_to_the_microsecond():
    rec = priced("deepgram", "nova-3", "stt", audio_seconds=1 / 3)
    usage = Usage(audio_input_seconds=Decimal("0.333333"))
    assert rec.cost_usd == catalog(usage, "deepgram", "nova-3")


def test_stt_per_minute_model_whisper_1():
    rec = priced("openai", "whisper-1", "stt", audio_seconds=90.0)
    assert rec.cost_usd == catalog(Usage(audio_input_seconds=Decimal(90)), "openai", "whisper-1")
    assert rec.cost_usd == Decimal("0.009")  # $0.006 a minute


# --- token-billed speech ---------------------------------------------------------------------


@pytest.mark.parametrize("model", ["gpt-4o-transcribe", "gpt-4o-mini-transcribe"])
def test_token_billed_transcription_is_priced_from_its_tokens(model):
    rec = priced("openai", model, "stt", audio_seconds=20.0, input_tokens=200, output_tokens=30)
    # transcription input is audio: all input tokens are audio tokens
    usage = Usage(input_tokens=200, input_audio_tokens=200, output_tokens=30)
    assert rec.cost_usd == catalog(usage, "openai", model)
    assert rec.cost_usd > 0 and rec.price_source == "catalog"
    assert "input_audio_kseconds" not in json.loads(rec.price_rates)  # not also per second


def test_transcription_without_tokens_falls_back_to_the_vendors_estimate():
    rec = priced("openai", "gpt-4o-transcribe", "stt", audio_seconds=30.0)
    assert rec.cost_usd == catalog(
        Usage(audio_input_seconds=Decimal(30)), "openai", "gpt-4o-transcribe"
    )
    assert rec.price_source == "catalog"
    assert "estimate" in rec.price_detail
    assert json.loads(rec.price_rates) == {"input_audio_kseconds": "0.1"}


def test_token_billed_speech_synthesis_is_priced_from_its_tokens():
    rec = priced(
        "openai",
        "gpt-4o-mini-tts",
        "tts",
        characters=120,
        audio_seconds=6.0,
        input_tokens=25,
        output_tokens=600,
    )
    usage = Usage(input_tokens=25, output_tokens=600, output_audio_tokens=600)
    assert rec.cost_usd == catalog(usage, "openai", "gpt-4o-mini-tts")
    assert rec.cost_usd == Decimal("0.000015") + Decimal("0.0072")


def test_token_billed_speech_with_only_characters_is_unpriced_not_free():
    rec = priced("openai", "gpt-4o-mini-tts", "tts", characters=120, audio_seconds=6.0)
    assert rec.cost_usd is None and rec.price_rates is None
    assert rec.price_source == "unpriced"
    assert "bills input_mtok, output_mtok, output_audio_mtok" in rec.price_detail
    assert "120 characters" in rec.price_detail
    assert (rec.characters, rec.audio_seconds) == (120, 6.0)  # the units stay


# --- TTS per character -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "tts-1"),
        ("openai", "tts-1-hd"),
        ("cartesia", "sonic-3"),
        ("elevenlabs", "eleven_flash_v2_5"),
        ("deepgram", "aura-2"),
    ],
)
def test_tts_per_character(provider, model):
    rec = priced(provider, model, "tts", characters=1234, audio_seconds=80.5)
    assert rec.cost_usd == catalog(Usage(characters=1234), provider, model)
    assert rec.cost_usd > 0
    assert list(json.loads(rec.price_rates)) == ["input_kchars"]


def test_openai_tts_1_exact():
    assert priced("openai", "tts-1", "tts", characters=1000).cost_usd == Decimal("0.015")


# --- no units, no price ----------------------------------------------------------------------


def test_a_record_without_units_costs_nothing():
    rec = priced("openai", "gpt-4o-mini", "llm")
    rec.status = "error"
    assert rec.cost_usd == 0 and rec.price_source == "catalog"


def test_unknown_model_is_unpriced_with_the_reason_and_keeps_its_units():
    rec = priced("openai", "gpt-9-turbo", "llm", input_tokens=10, output_tokens=3)
    assert rec.cost_usd is None and rec.price_rates is None
    assert rec.price_source == "unpriced"
    assert rec.price_detail == f"voice-prices {VERSION} has no model 'gpt-9-turbo' for openai"
    assert (rec.input_tokens, rec.output_tokens) == (10, 3)


def test_unknown_catalog_provider_is_unpriced():
    rates = rates_for("acme", "x", "llm", catalog="acme-speech")
    assert (rates.source, rates.detail) == (
        "unpriced",
        f"voice-prices {VERSION} has no provider 'acme-speech'",
    )
    assert rates.cost({"input_tokens": 5}) is None


def test_a_catalog_model_without_a_rate_is_unpriced():
    rates = rates_for("deepgram", "nova", "stt", catalog="deepgram")
    assert rates.source == "unpriced"
    assert rates.detail == f"voice-prices {VERSION} deepgram/nova has no stt rate"


def test_cost_of_units():
    rates = rates_for("openai", "gpt-4o-mini", "llm", catalog="openai")
    assert rates.cost(
        {"input_tokens": 1234, "cached_tokens": 1000, "output_tokens": 56}
    ) == Decimal("0.0001437")
    with pytest.raises(ValueError, match="unknown units: input_tokns"):
        rates.cost({"input_tokns": 3})


def test_price_rates_round_trip_to_the_same_cost():
    rec = priced(
        "openai", "gpt-4o-mini", "llm", input_tokens=999, cached_tokens=500, output_tokens=77
    )
    stored = {unit: Decimal(rate) for unit, rate in json.loads(rec.price_rates).items()}
    again = (
        (999 - 500) * stored["input_mtok"]
        + 500 * stored["cache_read_mtok"]
        + 77 * stored["output_mtok"]
    ) / 1_000_000
    assert again == rec.cost_usd


# --- the cache -------------------------------------------------------------------------------


def test_lookups_are_cached_on_disk_by_installed_catalog(tmp_path):
    path = cache_path()
    assert path.parent == tmp_path / "cache" / "voicegateway"
    rates_for("openai", "gpt-4o-mini", "llm", catalog="openai")
    rates_for("openai", "nope", "llm", catalog="openai")
    data = json.loads(path.read_text())
    assert data["version"] == VERSION
    assert set(data["entries"]) == {"openai/gpt-4o-mini", "openai/nope"}


def test_a_process_with_a_warm_cache_never_imports_voice_prices(tmp_path):
    rates_for("openai", "gpt-4o-mini", "llm", catalog="openai")
    probe = (
        "import sys\n"
        "from voicegateway.pricing import rates_for\n"
        "r = rates_for('openai', 'gpt-4o-mini', 'llm', catalog='openai')\n"
        "print(r.cost({'input_tokens': 1234, 'cached_tokens': 1000, 'output_tokens': 56}))\n"
        "print('voice_prices' in sys.modules)\n"
    )
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.split() == ["0.0001437", "False"]


def test_a_broken_or_unwritable_cache_only_costs_a_lookup(tmp_path, monkeypatch):
    path = cache_path()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert rates_for("openai", "tts-1", "tts", catalog="openai").source == "catalog"
    assert "openai/tts-1" in json.loads(path.read_text())["entries"]

    monkeypatch.setenv("XDG_CACHE_HOME", "/proc/no-such-dir")
    assert rates_for("openai", "tts-1-hd", "tts", catalog="openai").source == "catalog"
