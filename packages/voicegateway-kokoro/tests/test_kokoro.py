"""Kokoro's code path end to end, with the real kokoro-onnx and espeak-ng and a tiny
Kokoro-shaped model (no English Kokoro weights are on PyPI): settings, build, phonemes, inference
in the executor, audio frames out, metering and pricing."""

from __future__ import annotations

import asyncio
import logging
import shutil
from decimal import Decimal
from pathlib import Path

import kokoro_onnx
import numpy as np
import pytest
from livekit.agents import tts

from voicegateway import inference
from voicegateway.errors import ProviderUnavailable
from voicegateway_kokoro.tts import SAMPLE_RATE, KokoroTTS
from voicegateway_testkit.conformance import wait_ended

from .conftest import VOICES
from .tiny_kokoro import TOKEN_SAMPLES, WAVE_AMPLITUDE

TEXT = "Hello there. How are you today?"


def block(model: Path, voices: Path, extra: str = "") -> str:
    return f"""
        default_project: app
        providers:
          kokoro: {{model_path: '{model}', voices_path: '{voices}'{extra}}}
    """


async def samples_of(voice: tts.TTS, text: str) -> np.ndarray:
    """The 16-bit samples of one ``synthesize()``."""
    async with voice.synthesize(text) as stream:
        frames = [event.frame async for event in stream]
    await wait_ended(voice)
    assert {f.sample_rate for f in frames} == {SAMPLE_RATE}
    return np.frombuffer(b"".join(bytes(f.data) for f in frames), dtype="<i2")


def peak(samples: np.ndarray) -> float:
    return float(np.abs(samples).max()) / 32767


async def test_synthesis_runs_the_model_and_meters_the_characters(use_config, kokoro_files):
    model, voices = kokoro_files
    gateway = use_config(block(model, voices))
    voice = inference.TTS("kokoro/v1.0:af_test")
    assert isinstance(voice.plugin, KokoroTTS) and not voice.capabilities.streaming
    assert (voice.provider, voice.model) == ("kokoro", "v1.0")
    assert voice.sample_rate == SAMPLE_RATE == kokoro_onnx.SAMPLE_RATE

    samples = await samples_of(voice, TEXT)

    # exactly what the engine makes of that text with that voice: phonemes, one tone per token
    audio, _ = kokoro_onnx.Kokoro(str(model), str(voices)).create(TEXT, voice="af_test")
    assert np.array_equal(samples, (np.clip(audio, -1, 1) * 32767).astype("<i2"))
    assert len(samples) > 10 * TOKEN_SAMPLES
    assert peak(samples) == pytest.approx(WAVE_AMPLITUDE * VOICES["af_test"], abs=0.01)
    [record] = gateway.records()
    assert (record.provider, record.model, record.project) == ("kokoro", "v1.0", "app")
    assert record.characters == len(TEXT) and record.status == "ok"
    assert record.audio_seconds == pytest.approx(len(samples) / SAMPLE_RATE, abs=0.05)
    assert record.cost_usd == 0 and record.price_source == "local"


async def test_the_voice_and_speed_settings_reach_the_model(use_config, kokoro_files):
    use_config(block(*kokoro_files, ", voice: am_loud, speed: 1.5"))
    voice = inference.TTS("kokoro")  # the default model, the voice from the settings
    assert voice.model == "v1.0"
    samples = await samples_of(voice, TEXT)
    assert peak(samples) == pytest.approx(WAVE_AMPLITUDE * VOICES["am_loud"] * 1.5, abs=0.01)


async def test_a_model_loads_once_for_every_tts_of_the_process(
    use_config, kokoro_files, tmp_path, caplog
):
    # a copy of the model: files no other test loads, so this test sees their load
    model = shutil.copy(kokoro_files[0], tmp_path / "kokoro-v1.0.onnx")
    use_config(block(model, kokoro_files[1]))
    caplog.set_level(logging.INFO, logger="voicegateway.kokoro")
    first, second = inference.TTS("kokoro/v1.0:af_test"), inference.TTS("kokoro/v1.0:am_loud")
    assert first.plugin is not second.plugin

    results = await asyncio.gather(samples_of(first, "One."), samples_of(second, "Two."))

    loads = [r for r in caplog.records if r.getMessage().startswith("loaded Kokoro model")]
    assert len(loads) == 1
    assert all(len(samples) for samples in results)


async def test_prewarm_loads_the_model_before_the_first_request(
    use_config, kokoro_files, tmp_path, caplog
):
    model = shutil.copy(kokoro_files[0], tmp_path / "kokoro-v1.0.onnx")
    use_config(block(model, kokoro_files[1]))
    caplog.set_level(logging.INFO, logger="voicegateway.kokoro")
    voice = inference.TTS("kokoro/v1.0:af_test")

    voice.prewarm()

    def loads() -> int:
        return sum(r.getMessage().startswith("loaded Kokoro model") for r in caplog.records)

    async with asyncio.timeout(10):
        while not loads():
            await asyncio.sleep(0.01)
    assert len(await samples_of(voice, TEXT))
    assert loads() == 1


async def test_a_compute_rate_prices_the_audio_made(use_config, kokoro_files):
    gateway = use_config(block(*kokoro_files) + "\n        pricing: {kokoro: {compute_hour: 0.5}}")
    await samples_of(inference.TTS("kokoro/v1.0:af_test"), TEXT)
    [record] = gateway.records()
    assert record.price_source == "local" and record.cost_usd > 0
    expected = Decimal(str(record.audio_seconds)) * Decimal("0.5") / 3600
    assert record.cost_usd == pytest.approx(expected)


def test_missing_files_say_where_to_get_them(use_config, kokoro_files, tmp_path):
    model, voices = kokoro_files
    use_config("default_project: app\n")
    with pytest.raises(ProviderUnavailable) as error:
        inference.TTS("kokoro/v1.0:af_test")
    message = str(error.value)
    assert "needs providers.kokoro.model_path" in message
    assert "no package ships English Kokoro weights" in message
    assert "https://github.com/thewh1teagle/kokoro-onnx/releases/tag/model-files-v1.0" in message

    use_config(block(tmp_path / "nope.onnx", voices))
    with pytest.raises(ProviderUnavailable, match=r"model_path .*nope\.onnx does not exist"):
        inference.TTS("kokoro/v1.0:af_test")

    use_config(f"providers: {{kokoro: {{model_path: '{model}'}}}}\n")
    with pytest.raises(ProviderUnavailable, match=r"needs providers\.kokoro\.voices_path"):
        inference.TTS("kokoro/v1.0:af_test")


def test_an_unknown_voice_is_reported_with_the_known_ones(use_config, kokoro_files):
    use_config(block(*kokoro_files))
    with pytest.raises(ProviderUnavailable, match=r"no voice 'zz_nobody' .*\(af_test, am_loud\)"):
        inference.TTS("kokoro/v1.0:zz_nobody")
    with pytest.raises(ProviderUnavailable, match="no voice 'af_heart'"):  # the default voice
        inference.TTS("kokoro")
