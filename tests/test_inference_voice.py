"""A full voice turn through voicegateway.inference: real Deepgram STT and TTS and OpenAI LLM
plugin classes against the testkit's local servers, inside a real AgentSession."""

from __future__ import annotations

import asyncio

import pytest
from livekit.agents import stt, tts
from livekit.plugins import deepgram as lk_deepgram
from livekit.plugins import openai as lk_openai

from voicegateway import inference
from voicegateway_testkit.audio import audio_frames, pcm_silence
from voicegateway_testkit.fakes import voice_turn

from .conftest import DEEPGRAM_KEY, OPENAI_KEY


async def test_voice_turn_meters_stt_llm_and_tts(cloud, openai_server, deepgram_server, lk_http):
    deepgram_server.transcript = "Book a table for two."
    openai_server.reply = "Done, a table for two at seven."
    listener, voice = inference.STT("listener"), inference.TTS("voice")
    assert isinstance(listener.plugin, lk_deepgram.STT)
    assert isinstance(voice.plugin, lk_deepgram.TTS)
    assert voice.plugin.model == "aura-2-andromeda-en"  # the voice suffix became Deepgram's name

    await voice_turn(
        listener,
        inference.LLM("openai/gpt-4o-mini"),
        voice,
        instructions="Take bookings.",
        seconds=1.2,
        frequency=220,
    )
    await asyncio.sleep(0.1)

    records = cloud.records()
    by_modality = {m: [r for r in records if r.modality == m] for m in ("stt", "llm", "tts")}
    assert all(r.project == "app" for r in records)
    assert {r.provider for r in by_modality["stt"]} == {"deepgram"}
    assert sum(r.audio_seconds for r in by_modality["stt"]) >= 1.2
    [chat] = by_modality["llm"]
    assert chat.provider == "openai" and chat.input_tokens > 0 and chat.output_tokens > 0
    spoken = [r for r in by_modality["tts"] if r.characters]
    assert sum(r.characters for r in spoken) == len("Done, a table for two at seven.")
    # the record names the billed model; the voice is not part of it
    assert all(r.provider == "deepgram" and r.model == "aura-2" for r in spoken)
    listen = deepgram_server.requests_for("/v1/listen")
    assert listen and listen[0].headers["Authorization"] == f"Token {DEEPGRAM_KEY}"
    assert listen[0].query["model"] == "nova-3"


async def test_openai_batch_stt_and_tts(cloud, openai_server, no_retry):
    openai_server.transcript = "Hello from the batch endpoint."
    listener = inference.STT("openai/whisper-1:en")
    assert isinstance(listener.plugin, lk_openai.STT)
    frames = audio_frames(pcm_silence(2.0, sample_rate=16000), sample_rate=16000)
    event = await listener.recognize(frames, conn_options=no_retry)
    assert event.type == stt.SpeechEventType.FINAL_TRANSCRIPT
    assert event.alternatives[0].text == "Hello from the batch endpoint."

    speaker = inference.TTS("openai/tts-1:alloy")
    assert isinstance(speaker, tts.TTS) and isinstance(speaker.plugin, lk_openai.TTS)
    async with speaker.synthesize("Twelve chars", conn_options=no_retry) as stream:
        audio = [ev async for ev in stream]
    assert audio

    records = cloud.records()
    [heard] = [r for r in records if r.modality == "stt"]
    assert (heard.provider, heard.model) == ("openai", "whisper-1")
    assert heard.audio_seconds == pytest.approx(2.0)
    [said] = [r for r in records if r.modality == "tts"]
    assert (said.provider, said.model, said.characters) == ("openai", "tts-1", 12)
    [request] = openai_server.requests_for("/v1/audio/transcriptions")
    assert request.headers["Authorization"] == f"Bearer {OPENAI_KEY}"
    assert request.form.get("language") == "en"
    [speech] = openai_server.requests_for("/v1/audio/speech")
    assert speech.json["voice"] == "alloy" and speech.json["response_format"] == "pcm"


async def test_token_billed_transcription_keeps_its_tokens(cloud, openai_server, no_retry):
    """LiveKit's batch recognize() drops the usage gpt-4o-transcribe returns; the openai
    provider reads it from the response, so the record carries the tokens it is billed by."""
    listener = inference.STT("openai/gpt-4o-mini-transcribe")
    frames = audio_frames(pcm_silence(2.0, sample_rate=16000), sample_rate=16000)
    await listener.recognize(frames, conn_options=no_retry)
    [record] = cloud.records()
    assert record.input_tokens > 0
    assert record.output_tokens == len(openai_server.transcript.next().split())
    assert record.audio_seconds == pytest.approx(2.0)
