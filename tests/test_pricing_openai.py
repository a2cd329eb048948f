"""Units sent through the real livekit.plugins.openai classes to the testkit's local OpenAI server
land priced at exactly what voice-prices gives for them, cached tokens included."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import voice_prices
from livekit.agents import Agent, AgentSession
from voice_prices import Usage, calc_price

import voicegateway
from voicegateway import inference
from voicegateway_testkit.audio import audio_frames, pcm_silence

from .conftest import OPENAI_KEY


@pytest.fixture
def priced(use_config, openai_server, monkeypatch, tmp_path) -> voicegateway.Gateway:
    """The default chain, which prices records before recording them; openai served locally."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    gateway = use_config(
        f"""
        providers:
          openai: {{base_url: "{openai_server.url}/v1"}}
        """
    )
    assert "pricing" in [step.name for step in gateway.chain.steps]
    return gateway


def catalog(usage: Usage, model: str) -> Decimal:
    return calc_price(usage, model, provider_id="openai").total_price


async def test_llm_turn_costs_what_voice_prices_says_cached_tokens_included(priced, openai_server):
    openai_server.prompt_tokens, openai_server.cached_tokens = 1234, 1000
    openai_server.completion_tokens = 56
    model = inference.LLM("openai/gpt-4o-mini")
    async with AgentSession(llm=model, vad=None, turn_handling={"turn_detection": "manual"}) as s:
        await s.start(Agent(instructions="You are terse."))
        await s.run(user_input="Book a table for two")

    [record] = priced.records()
    assert (record.input_tokens, record.cached_tokens, record.output_tokens) == (1234, 1000, 56)
    usage = Usage(input_tokens=1234, cache_read_tokens=1000, output_tokens=56)
    assert record.cost_usd == catalog(usage, "gpt-4o-mini") == Decimal("0.0001437")
    assert record.price_source == "catalog"
    assert record.price_detail == f"voice-prices {voice_prices.__version__} openai/gpt-4o-mini"
    assert json.loads(record.price_rates) == {
        "input_mtok": "0.15",
        "cache_read_mtok": "0.075",
        "output_mtok": "0.6",
    }


async def test_token_billed_speech_costs_its_tokens(priced, openai_server, no_retry):
    speaker = inference.TTS("openai/gpt-4o-mini-tts:alloy")
    async with speaker.synthesize("Your table is booked.", conn_options=no_retry) as stream:
        assert [event async for event in stream]
    listener = inference.STT("openai/gpt-4o-mini-transcribe")
    frames = audio_frames(pcm_silence(2.0, sample_rate=16000), sample_rate=16000)
    await listener.recognize(frames, conn_options=no_retry)

    said, heard = priced.records()
    assert said.output_tokens > 0 and said.input_tokens > 0
    spoken = Usage(
        input_tokens=said.input_tokens,
        output_tokens=said.output_tokens,
        output_audio_tokens=said.output_tokens,
    )
    assert said.cost_usd == catalog(spoken, "gpt-4o-mini-tts") > 0
    assert heard.input_tokens > 0 and heard.audio_seconds == pytest.approx(2.0)
    transcribed = Usage(
        input_tokens=heard.input_tokens,
        input_audio_tokens=heard.input_tokens,
        output_tokens=heard.output_tokens,
    )
    assert heard.cost_usd == catalog(transcribed, "gpt-4o-mini-transcribe") > 0
    assert said.price_source == heard.price_source == "catalog"
