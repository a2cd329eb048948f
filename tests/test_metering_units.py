"""Units as the provider bills them, where LiveKit's own reports fall short (reference §2)."""

from __future__ import annotations

import asyncio
import types

import pytest
from livekit.agents import llm

from voicegateway import inference
from voicegateway.hookspecs import hookimpl
from voicegateway.providers import ProviderSpec
from voicegateway_testkit.audio import audio_frames, pcm_silence
from voicegateway_testkit.fakes import FakeTTS


def _chat_context(text: str) -> llm.ChatContext:
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="system", content="You take restaurant bookings.")
    ctx.add_message(role="user", content=text)
    return ctx


async def test_stt_keeps_reported_and_measured_audio_and_bills_the_unreported_tail(use_config):
    gateway = use_config("{}")
    ears = inference.STT("fake/fake-stt", extra_kwargs={"utterance_seconds": 0.5})
    stream = ears.stream()
    for frame in audio_frames(pcm_silence(1.2), sample_rate=16000):
        stream.push_frame(frame)
    async with asyncio.timeout(5):
        while len(gateway.records()) < 2:  # two 0.5 s utterances reported
            await asyncio.sleep(0.01)
    await stream.aclose()  # closed mid-utterance: the last 0.2 s is never reported
    await asyncio.sleep(0)
    records = gateway.records()
    assert sum(r.audio_seconds for r in records) == pytest.approx(1.0)  # what the fake reported
    assert sum(r.audio_seconds_measured for r in records) == pytest.approx(1.2)  # what it got
    [tail] = [r for r in records if r.audio_seconds == 0]
    assert tail.audio_seconds_measured == pytest.approx(0.2) and tail.estimated
    assert len({r.call_id for r in records}) == 1


async def test_batch_recognition_measures_the_buffer(use_config):
    gateway = use_config("{}")
    frames = audio_frames(pcm_silence(1.5), sample_rate=16000)
    await inference.STT("fake/fake-stt").recognize(frames)
    [record] = gateway.records()
    assert record.audio_seconds == pytest.approx(1.5)
    assert record.audio_seconds_measured == pytest.approx(1.5)
    assert not record.estimated


async def test_interrupted_tts_segment_is_still_billed_for_the_text_pushed(use_config):
    gateway = use_config("{}")
    voice = inference.TTS("fake/fake-tts", extra_kwargs={"streaming": True})
    stream = voice.stream()
    stream.push_text("Your table is booked ")
    stream.push_text("for seven.")
    await stream.aclose()  # the caller barged in: LiveKit never reports this segment
    await asyncio.sleep(0)
    [record] = gateway.records()
    assert record.characters == len("Your table is booked for seven.")
    assert record.status == "cancelled"


class _WrappingTTS(FakeTTS):
    """A streaming TTS whose synthesize() wraps stream(), as inference.TTS and assemblyai do."""

    def synthesize(self, text, *, conn_options=None, **kwargs):
        return self._synthesize_with_stream(
            text, **({"conn_options": conn_options} if conn_options else {})
        )


@pytest.fixture
def wrapping_provider(use_config):
    gateway = use_config("{}")
    plugin = types.ModuleType("wrapping_plugin")
    plugin.VOICEGATEWAY_PLUGIN_API = 1

    @hookimpl
    def register_providers(register):
        register(
            ProviderSpec(
                id="wrapping",
                tts=lambda r: _WrappingTTS(streaming=True),
                default_models={"tts": "w1"},
            )
        )

    plugin.register_providers = register_providers
    gateway.plugins.register(plugin)
    return gateway


async def test_synthesize_wrapping_stream_is_not_counted_twice(wrapping_provider):
    voice = inference.TTS("wrapping")
    reported = []
    voice.on("metrics_collected", reported.append)
    async with voice.synthesize("Fourteen chars") as stream:
        async for _ in stream:
            pass
    await asyncio.sleep(0)
    assert sum(m.characters_count for m in reported) == 28  # LiveKit reports the text twice
    records = wrapping_provider.records()
    assert sum(r.characters for r in records) == 14  # we bill it once


async def test_llm_interrupted_before_usage_bills_an_estimated_prompt(use_config):
    gateway = use_config("{}")
    model = inference.LLM("fake/fake-llm")
    ctx = _chat_context("I'd like a table for two at seven tonight, please.")
    stream = model.chat(chat_ctx=ctx)
    await stream.aclose()  # interrupted before the first token
    await asyncio.sleep(0)
    [record] = gateway.records()
    assert record.status == "cancelled" and record.estimated
    # two messages: 4 framing tokens each, plus about one token per four characters
    expected = (
        8
        + -(-len("You take restaurant bookings.") // 4)
        + -(-len("I'd like a table for two at seven tonight, please.") // 4)
    )
    assert record.input_tokens == expected
    assert record.output_tokens == 0
