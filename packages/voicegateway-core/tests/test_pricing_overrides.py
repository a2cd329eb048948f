"""Operator overrides (``pricing:`` in voicegw.yaml), local engines, and how the config reports
mistakes in them."""

from __future__ import annotations

import json
import textwrap
from decimal import Decimal

import pytest
import voice_prices
from voice_prices import Usage, calc_price

from voicegateway.config import ConfigError, load_config
from voicegateway.config.schema import RateOverride
from voicegateway.pricing import UNITS, price_units, rates_for
from voicegateway.records import UsageRecord

VERSION = voice_prices.__version__


@pytest.fixture(autouse=True)
def price_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def pricing(text: str, tmp_path) -> dict[str, RateOverride]:
    path = tmp_path / "voicegw.yaml"
    path.write_text(textwrap.dedent(text))
    return load_config(path, env={}).pricing


def problems(text: str, tmp_path) -> list[str]:
    path = tmp_path / "voicegw.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    return [
        f"{i.line}:{i.column} {i.path}: {i.message}" + (f"; {i.hint}" if i.hint else "")
        for i in caught.value.issues
    ]


NEGOTIATED = """
    pricing:
      openai/gpt-4o-mini: {input_mtok: 0.12, cache_read_mtok: 0.06, output_mtok: 0.48}
      openai: {output_mtok: 7, inherit: true}
      deepgram/nova-3: {audio_minute: 0.0036}
      deepgram: {audio_hour: 0.3}
      cartesia/sonic-3: {mchars: 30}
      whisper: {compute_hour: 0.40}
      ollama: {compute_hour: 1.2}
"""


# --- overrides -------------------------------------------------------------------------------


def test_a_model_override_replaces_the_whole_rate_card(tmp_path):
    overrides = pricing(NEGOTIATED, tmp_path)
    rates = rates_for("openai", "gpt-4o-mini", "llm", catalog="openai", overrides=overrides)
    assert rates.source == "override"
    assert rates.detail == "pricing.openai/gpt-4o-mini in voicegw.yaml"
    assert rates.rates == {
        "input_mtok": Decimal("0.12"),
        "cache_read_mtok": Decimal("0.06"),
        "output_mtok": Decimal("0.48"),
    }
    units = {"input_tokens": 1234, "cached_tokens": 1000, "output_tokens": 56}
    # the catalog's arithmetic at the negotiated rates: (234*0.12 + 1000*0.06 + 56*0.48) / 1M
    assert rates.cost(units) == Decimal("0.00011496")


def test_the_more_specific_override_wins_and_a_provider_override_covers_the_rest(tmp_path):
    overrides = pricing(NEGOTIATED, tmp_path)
    nova = rates_for("deepgram", "nova-3", "stt", catalog="deepgram", overrides=overrides)
    nova2 = rates_for("deepgram", "nova-2", "stt", catalog="deepgram", overrides=overrides)
    assert nova.detail == "pricing.deepgram/nova-3 in voicegw.yaml"
    assert nova2.detail == "pricing.deepgram in voicegw.yaml"
    assert nova.cost({"audio_seconds": 90.0}) == Decimal("0.0054")  # 1.5 min at 0.0036
    assert nova2.cost({"audio_seconds": 90.0}) == Decimal("0.0075")  # 90 s at 0.30 an hour


def test_an_inheriting_override_replaces_only_its_own_units(tmp_path):
    overrides = pricing(NEGOTIATED, tmp_path)
    rates = rates_for("openai", "gpt-4.1", "llm", catalog="openai", overrides=overrides)
    assert rates.source == "override"
    assert (
        rates.detail == f"pricing.openai in voicegw.yaml over voice-prices {VERSION} openai/gpt-4.1"
    )
    assert rates.rates == {
        "input_mtok": Decimal("2"),  # from the catalog
        "cache_read_mtok": Decimal("0.5"),  # from the catalog
        "output_mtok": Decimal("7"),  # negotiated
    }
    catalog_part = calc_price(
        Usage(input_tokens=1000, cache_read_tokens=400), "gpt-4.1", provider_id="openai"
    )
    cost = rates.cost({"input_tokens": 1000, "cached_tokens": 400, "output_tokens": 100})
    assert cost == catalog_part.total_price + Decimal(7) * 100 / 1_000_000


def test_an_inheriting_override_replaces_the_catalog_unit_for_the_same_quantity(tmp_path):
    overrides = pricing(
        """
        pricing:
          openai/tts-1: {mchars: 12, inherit: true}
          deepgram/nova-3: {audio_minute: 0.004, inherit: true}
        """,
        tmp_path,
    )
    tts = rates_for("openai", "tts-1", "tts", catalog="openai", overrides=overrides)
    stt = rates_for("deepgram", "nova-3", "stt", catalog="deepgram", overrides=overrides)
    assert tts.rates == {"mchars": Decimal(12)}  # not also input_kchars
    assert stt.rates == {"audio_minute": Decimal("0.004")}  # not also input_audio_kseconds
    assert tts.cost({"characters": 1000}) == Decimal("0.012")


def test_an_override_prices_a_model_the_catalog_lacks(tmp_path):
    overrides = pricing(
        """
        pricing:
          openai/ft:my-model: {input_mtok: 3, output_mtok: 6}
          deepgram/nova: {audio_minute: 0.005, inherit: true}
        """,
        tmp_path,
    )
    tuned = rates_for("openai", "ft:my-model", "llm", catalog="openai", overrides=overrides)
    assert tuned.source == "override"
    assert tuned.cost({"input_tokens": 1000, "output_tokens": 1000}) == Decimal("0.009")
    legacy = rates_for("deepgram", "nova", "stt", catalog="deepgram", overrides=overrides)
    assert legacy.source == "override"
    assert legacy.cost({"audio_seconds": 60}) == Decimal("0.005")


def test_cartesia_per_million_characters(tmp_path):
    overrides = pricing(NEGOTIATED, tmp_path)
    rates = rates_for("cartesia", "sonic-3", "tts", catalog="cartesia", overrides=overrides)
    assert rates.cost({"characters": 2500, "audio_seconds": 9.0}) == Decimal("0.075")


# --- local engines ---------------------------------------------------------------------------


def test_a_local_engine_costs_nothing_without_a_rate():
    rates = rates_for("kokoro", "kokoro-82m", "tts", catalog=None)
    assert (rates.source, rates.detail) == (
        "local",
        "local engine, no rate under pricing: in voicegw.yaml",
    )
    rec = UsageRecord(
        call_id="c",
        modality="tts",
        provider="kokoro",
        model="kokoro-82m",
        project="p",
        characters=300,
    )
    rates.price(rec)
    assert (rec.cost_usd, rec.price_source, rec.price_rates) == (Decimal(0), "local", "{}")
    assert rec.characters == 300


def test_a_local_engine_with_a_compute_rate(tmp_path):
    overrides = pricing(NEGOTIATED, tmp_path)
    stt = rates_for("whisper", "large-v3", "stt", catalog=None, overrides=overrides)
    assert (stt.source, stt.detail) == ("local", "pricing.whisper in voicegw.yaml")
    assert stt.cost({"audio_seconds": 0, "audio_seconds_measured": 45.0}) == Decimal("0.005")
    # an LLM's compute time is its request time
    llm = rates_for("ollama", "llama3.2:3b", "llm", catalog=None, overrides=overrides)
    assert llm.cost({"input_tokens": 300, "output_tokens": 40, "duration_ms": 1500.0}) == Decimal(
        "0.0005"
    )
    rec = UsageRecord(
        call_id="c", modality="llm", provider="ollama", model="llama3.2:3b", project="p"
    )
    rec.input_tokens, rec.duration_ms = 300, 1500.0
    llm.price(rec)
    assert (rec.cost_usd, rec.price_source) == (Decimal("0.0005"), "local")
    assert json.loads(rec.price_rates) == {"compute_hour": "1.2"}


def test_a_local_rate_that_cannot_apply_leaves_the_record_unpriced(tmp_path):
    overrides = pricing(NEGOTIATED, tmp_path)
    llm = rates_for("ollama", "llama3.2:3b", "llm", catalog=None, overrides=overrides)
    priced = llm.evaluate({"input_tokens": 300, "output_tokens": 40})  # no request time
    assert priced.cost is None and priced.source == "unpriced"
    assert priced.detail == (
        "pricing.ollama in voicegw.yaml bills compute_hour; "
        "the record has 300 input tokens, 40 output tokens"
    )


# --- what-if ---------------------------------------------------------------------------------


def test_price_units_looks_the_provider_up_by_id(tmp_path):
    cost, detail = price_units("deepgram", "nova-3", "stt", {"audio_seconds": 60.0})
    assert (cost, detail) == (Decimal("0.0048"), f"voice-prices {VERSION} deepgram/nova-3")
    overrides = pricing(NEGOTIATED, tmp_path)
    assert price_units(
        "deepgram", "nova-3", "stt", {"audio_seconds": 60.0}, overrides=overrides
    ) == (
        Decimal("0.0036"),
        "pricing.deepgram/nova-3 in voicegw.yaml",
    )
    assert price_units("openai", "gpt-9", "llm", {"input_tokens": 1})[0] is None


# --- the pricing: section --------------------------------------------------------------------


def test_the_override_fields_are_the_rate_units():
    assert [name for name in RateOverride.model_fields if name != "inherit"] == list(UNITS)
    by_quantity: dict[str, list[str]] = {}
    for unit in UNITS.values():
        by_quantity.setdefault(unit.meter, []).append(unit.name)
    alternatives = {meter: tuple(names) for meter, names in by_quantity.items() if len(names) > 1}
    assert alternatives == RateOverride.ALTERNATIVES


def test_pricing_values_are_decimals_and_dump_as_written(tmp_path):
    path = tmp_path / "voicegw.yaml"
    path.write_text(
        "pricing:\n"
        "  openai/gpt-4o-mini: {input_mtok: 0.12, output_mtok: 0}\n"
        "  openai: {output_mtok: 1e-1, inherit: true}\n"
    )
    config = load_config(path, env={})
    assert config.pricing["openai/gpt-4o-mini"].units() == {
        "input_mtok": Decimal("0.12"),
        "output_mtok": Decimal(0),
    }
    assert config.redacted()["pricing"] == {
        "openai/gpt-4o-mini": {"input_mtok": "0.12", "output_mtok": "0"},
        "openai": {"output_mtok": "0.1", "inherit": True},
    }


def test_a_profile_can_change_a_rate(tmp_path):
    path = tmp_path / "voicegw.yaml"
    path.write_text(
        textwrap.dedent(
            """
            pricing:
              deepgram: {audio_minute: 0.0043}
            profiles:
              enterprise:
                pricing:
                  deepgram: {audio_minute: 0.0031}
            """
        )
    )
    config = load_config(path, env={}, profile="enterprise")
    assert config.pricing["deepgram"].audio_minute == Decimal("0.0031")


def test_mistakes_in_pricing_are_reported_at_their_lines(tmp_path):
    found = problems(
        """
        pricing:
          openai/gpt-4o-mini: {input_mtk: 0.12, output_mtok: 0.48}
          deepgram/nova-3:
            audio_minute: -1
          cartesia:
            mchars: 30
            input_kchars: 0.03
          Whisper: {compute_hour: 0.4}
          groq: {}
          elevenlabs: {mchars: lots}
          openai/: {input_mtok: 1}
        """,
        tmp_path,
    )
    not_a_key = (
        "is not a pricing key: expected 'provider' or 'provider/model'"
        " (lowercase provider id, the model name as recorded, no spaces)"
    )
    assert found == [
        "3:24 pricing.openai/gpt-4o-mini.input_mtk: unknown key; did you mean 'input_mtok'?",
        "5:19 pricing.deepgram/nova-3.audio_minute: must be at least 0, got -1",
        "7:13 pricing.cartesia.mchars: input_kchars and mchars both price characters;"
        " keep one of them",
        f"9:3 pricing.Whisper: 'Whisper' {not_a_key}",
        "10:3 pricing.groq: gives no rate; for example {input_mtok: 0.12, output_mtok: 0.48}"
        " or {audio_minute: 0.0036}",
        "11:24 pricing.elevenlabs.mchars: expected a number, got 'lots'",
        f"12:3 pricing.openai/: 'openai/' {not_a_key}",
    ]
