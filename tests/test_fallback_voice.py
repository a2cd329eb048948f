"""Run-time fallback for speech: the real livekit.plugins.deepgram STT and TTS against the
testkit's Deepgram server, with faults injected (500s, dropped websockets, a slow first byte),
handing over to the `fake` provider; records, replayed audio and text, rate-limit waits."""

from __future__ import annotations

import asyncio
import time

import pytest
from livekit.agents import APIError, stt
from livekit.plugins import deepgram as lk_deepgram

from voicegateway import inference
from voicegateway.policies import circuit
from voicegateway_testkit.audio import audio_frames, pcm_tone
from voicegateway_testkit.fakes import voice_turn
from voicegateway_testkit.loop import measure_loop_gaps

from .conftest import DEEPGRAM_KEY

LISTEN, SPEAK = "/v1/listen", "/v1/speak"


@pytest.fixture
def voice_chain(use_config, deepgram_server, monkeypatch):
    """`ears` and `mouth` are Deepgram (served by the local fake), then the `fake` provider."""
    monkeypatch.setenv("DEEPGRAM_API_KEY", DEEPGRAM_KEY)

    def configure(extra: str = ""):
        return use_config(f"""
            default_project: app
            providers:
              deepgram: {{base_url: "{deepgram_server.url}/v1"}}
            projects:
              app: {{}}
            models:
              ears: [deepgram/nova-3, fake/fake-stt]
              mouth: [deepgram/aura-2:andromeda-en, fake/fake-tts]
            fallback_policy: {{attempt_timeout_s: 1.0}}
            {extra}
        """)

    yield configure
    circuit.reset()


async def _speak(tts, text: str) -> float:
    seconds = 0.0
    async with tts.synthesize(text) as stream:
        async for audio in stream:
            seconds += audio.frame.duration
    return seconds


async def _speak_streamed(tts, parts: list[str]) -> float:
    seconds = 0.0
    async with tts.stream() as stream:
        for part in parts:
            stream.push_text(part)
        stream.end_input()
        async for audio in stream:
            seconds += audio.frame.duration
    return seconds


async def _listen(model, seconds: float) -> list[str]:
    """Stream ``seconds`` of audio at twice real time (so a fault lands while audio still
    flows, as in a call) and return the final transcripts."""
    finals = []
    async with model.stream() as stream:
        for frame in audio_frames(pcm_tone(seconds, frequency=220, sample_rate=16000)):
            stream.push_frame(frame)
            await asyncio.sleep(frame.duration / 2)
        stream.end_input()
        async for event in stream:
            if event.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
                finals.append(event.alternatives[0].text)
    return finals


async def test_tts_synthesize_hands_over_on_a_500(voice_chain, deepgram_server, lk_http):
    gateway = voice_chain()
    deepgram_server.fault(SPEAK, status=500, times=1)
    mouth = inference.TTS("mouth")
    assert isinstance(mouth.plugin, lk_deepgram.TTS)

    seconds = await _speak(mouth, "Your table is booked.")
    await asyncio.sleep(0.05)

    assert seconds == pytest.approx(len("Your table is booked.") * 0.05, abs=0.03)
    assert (mouth.provider, mouth.model) == ("fake", "fake-tts")
    failed, served = gateway.records()
    assert (failed.provider, failed.status, failed.error_class) == (
        "deepgram",
        "fallback",
        "APIStatusError",
    )
    assert (served.provider, served.status) == ("fake", "ok")
    assert served.fallback_from == "deepgram/aura-2"
    assert served.characters == len("Your table is booked.")


async def test_tts_stream_hands_over_when_the_websocket_drops(
    voice_chain, deepgram_server, lk_http
):
    """The websocket is cut before any audio: the text pushed so far is replayed to the fake."""
    gateway = voice_chain()
    deepgram_server.fault(SPEAK, drop_after=0, times=1)
    mouth = inference.TTS("mouth")

    seconds = await _speak_streamed(mouth, ["Your table ", "is booked. ", "See you soon."])
    await asyncio.sleep(0.05)

    text = "Your table is booked. See you soon."
    assert seconds == pytest.approx(len(text) * 0.05, abs=0.1)
    records = gateway.records()
    failed = [r for r in records if r.provider == "deepgram"]
    served = [r for r in records if r.provider == "fake"]
    assert [r.status for r in failed] == ["fallback"]
    assert all(r.status == "ok" and r.fallback_from == "deepgram/aura-2" for r in served)
    # the fake cannot stream: LiveKit's StreamAdapter sends it one sentence at a time, without
    # the space between them, and that is what it bills
    fake = mouth._built.members[-1].plugin
    assert fake.texts == ["Your table is booked.", "See you soon."]
    assert sum(r.characters for r in served) == len(text) - 1


async def test_tts_audio_already_played_is_not_spoken_twice(voice_chain, deepgram_server, lk_http):
    """A failure after audio reached the agent is not handed over (by default)."""
    gateway = voice_chain()
    deepgram_server.fault(SPEAK, drop_after=1, times=1)
    mouth = inference.TTS("mouth")
    with pytest.raises(APIError) as failure:  # LiveKit wraps it in its own error class
        await _speak(mouth, "A long sentence that takes several chunks of audio to say out loud.")
    await asyncio.sleep(0.05)
    [record] = gateway.records()
    assert (record.provider, record.status) == ("deepgram", "error")
    assert record.error_class == type(failure.value).__name__


async def test_tts_slow_first_byte_times_out_and_hands_over(voice_chain, deepgram_server, lk_http):
    gateway = voice_chain()
    deepgram_server.fault(SPEAK, delay=3.0, times=1)
    mouth = inference.TTS("mouth")
    start = time.perf_counter()
    await _speak(mouth, "Hello.")
    assert time.perf_counter() - start < 2.5  # the 1 s attempt timeout, not the 3 s delay
    failed, served = gateway.records()
    assert (failed.status, failed.error_class) == ("fallback", "APITimeoutError")
    assert served.provider == "fake"


async def test_stt_stream_hands_over_when_the_websocket_drops_mid_stream(
    voice_chain, deepgram_server, lk_http
):
    """Deepgram transcribes the first utterance, then the websocket is cut: the fake takes the
    rest of the audio, the unfinished utterance replayed, and both bills are recorded."""
    gateway = voice_chain()
    deepgram_server.utterance_seconds = 0.5
    deepgram_server.transcript = "First from Deepgram."
    deepgram_server.fault(LISTEN, drop_after=2, times=1)  # SpeechStarted, Results
    ears = inference.STT("ears")
    assert isinstance(ears.plugin, lk_deepgram.STT)

    finals = await _listen(ears, 2.0)
    await asyncio.sleep(0.05)

    assert finals[0] == "First from Deepgram."
    assert "Hello, this is a test." in finals[1:]  # the fake's transcript, after the hand-over
    records = gateway.records()
    dropped = [r for r in records if r.provider == "deepgram"]
    served = [r for r in records if r.provider == "fake"]
    assert dropped and dropped[-1].status == "fallback"
    assert dropped[-1].error_class in ("APIConnectionError", "APIStatusError")
    assert served and all(r.fallback_from == "deepgram/nova-3" for r in served)
    # Deepgram heard at least 1 s (two utterances' worth before the cut); the fake heard the
    # rest plus the replayed audio since Deepgram's last final transcript
    heard_by_deepgram = sum(r.audio_seconds or r.audio_seconds_measured for r in dropped)
    heard_by_fake = sum(r.audio_seconds or r.audio_seconds_measured for r in served)
    assert heard_by_deepgram >= 0.5
    assert heard_by_deepgram + heard_by_fake >= 2.0 - 0.05
    # the replay: Deepgram's one final covered only the first 0.5 s, so the fake heard all the
    # rest of the 2 s: what Deepgram heard after that final (replayed), then what it never got
    assert heard_by_fake == pytest.approx(2.0 - deepgram_server.utterance_seconds, abs=0.05)


async def test_stt_recognize_hands_over_on_a_500(voice_chain, deepgram_server, lk_http):
    gateway = voice_chain()
    deepgram_server.fault(LISTEN, status=500, times=1)
    ears = inference.STT("ears")
    frames = audio_frames(pcm_tone(1.0, frequency=220, sample_rate=16000))
    event = await ears.recognize(frames)
    assert event.alternatives[0].text == "Hello, this is a test."
    failed, served = gateway.records()
    assert (failed.provider, failed.status) == ("deepgram", "fallback")
    assert (served.provider, served.fallback_from) == ("fake", "deepgram/nova-3")
    assert served.audio_seconds == pytest.approx(1.0, abs=0.01)


async def test_a_voice_turn_survives_a_dropped_stt_websocket(voice_chain, deepgram_server, lk_http):
    """A real AgentSession: Deepgram's websocket is refused; the fake hears the caller, the
    agent answers, and the answer is spoken."""
    gateway = voice_chain()
    deepgram_server.fault(LISTEN, status=503, times=5)
    await voice_turn(
        inference.STT("ears"),
        inference.LLM("fake/fake-llm"),
        inference.TTS("mouth"),
        seconds=1.2,
        frequency=220,
    )
    await asyncio.sleep(0.1)
    stt_records = [r for r in gateway.records() if r.modality == "stt"]
    assert stt_records[0].provider == "deepgram" and stt_records[0].status == "fallback"
    assert any(r.provider == "fake" and r.audio_seconds for r in stt_records)


async def test_tts_waits_for_a_rate_limit_without_stalling_the_loop(use_config, lk_http):
    """``on_limit: wait`` for speech: each synthesis awaits its turn on the event loop."""
    use_config("""
        rate_limits:
          fake: {requests: 5/s, on_limit: wait, max_wait: 5}
    """)
    mouth = inference.TTS("fake/fake-tts")
    _, longest_gap, took = await measure_loop_gaps(
        asyncio.gather(*(_speak(mouth, "Hi.") for _ in range(4)))
    )
    assert took >= 0.55  # four calls at 5/s: three waits of 0.2 s
    assert longest_gap < 0.11  # a 10 ms tick was never late by 0.1 s


async def test_stt_waits_for_a_rate_limit_without_stalling_the_loop(use_config):
    use_config("""
        rate_limits:
          fake: {requests: 5/s, on_limit: wait, max_wait: 5}
    """)
    ears = inference.STT("fake/fake-stt")
    frames = audio_frames(pcm_tone(0.2, frequency=220, sample_rate=16000))
    start = time.perf_counter()
    events, longest_gap, took = await measure_loop_gaps(
        asyncio.gather(*(ears.recognize(frames) for _ in range(3)))
    )
    assert time.perf_counter() - start >= 0.35  # three calls at 5/s: two waits of 0.2 s
    assert took >= 0.35
    assert longest_gap < 0.11  # the waits were awaited: a 10 ms tick was never late by 0.1 s
    assert all(e.alternatives[0].text for e in events)
    assert [e.alternatives[0].text for e in events] == ["Hello, this is a test."] * 3
