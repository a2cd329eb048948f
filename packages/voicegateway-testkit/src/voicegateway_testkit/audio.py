"""PCM helpers: 16-bit signed little-endian samples, the one format every provider here speaks.

The byte-level helpers are stdlib only, so the fake servers use them without loading LiveKit;
:func:`audio_frames` imports ``livekit.rtc`` when called.
"""

from __future__ import annotations

import array
import io
import math
import sys
import wave
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from livekit import rtc

SAMPLE_WIDTH = 2
"""Bytes per sample of 16-bit PCM."""


def pcm_duration(nbytes: int, *, sample_rate: int, num_channels: int = 1) -> float:
    """Seconds of audio in ``nbytes`` of 16-bit PCM."""
    return nbytes / (SAMPLE_WIDTH * num_channels * sample_rate)


def pcm_silence(seconds: float, *, sample_rate: int = 16000, num_channels: int = 1) -> bytes:
    """``seconds`` of digital silence."""
    return bytes(round(seconds * sample_rate) * num_channels * SAMPLE_WIDTH)


def pcm_tone(
    seconds: float,
    *,
    frequency: float = 440.0,
    amplitude: float = 0.2,
    sample_rate: int = 24000,
    num_channels: int = 1,
) -> bytes:
    """A sine tone: audible, non-silent audio, for sinks or detectors that ignore silence.

    ``amplitude`` is a fraction of full scale.
    """
    peak = amplitude * 32767
    step = 2 * math.pi * frequency / sample_rate
    samples = array.array(
        "h",
        (
            round(peak * math.sin(step * i))
            for i in range(round(seconds * sample_rate))
            for _ in range(num_channels)
        ),
    )
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def pcm_to_wav(pcm: bytes, *, sample_rate: int, num_channels: int = 1) -> bytes:
    """Wrap PCM in a WAV container."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(num_channels)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm)
    return out.getvalue()


def wav_duration(data: bytes) -> float:
    """Seconds of audio in a WAV file, as plugins upload for batch transcription."""
    with wave.open(io.BytesIO(data)) as wav:
        return wav.getnframes() / wav.getframerate()


def audio_frames(
    pcm: bytes, *, sample_rate: int = 16000, num_channels: int = 1, frame_ms: int = 20
) -> list[rtc.AudioFrame]:
    """Cut PCM into ``frame_ms`` frames, the way a microphone track delivers it.

    A short last frame carries the remainder, so no audio is lost.
    """
    from livekit import rtc

    step = sample_rate * frame_ms // 1000 * num_channels * SAMPLE_WIDTH
    return [
        rtc.AudioFrame(
            data=chunk,
            sample_rate=sample_rate,
            num_channels=num_channels,
            samples_per_channel=len(chunk) // (num_channels * SAMPLE_WIDTH),
        )
        for chunk in (pcm[i : i + step] for i in range(0, len(pcm), step))
    ]
