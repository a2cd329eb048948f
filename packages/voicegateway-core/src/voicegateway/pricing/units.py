"""The names of per-unit rates: the catalog's own, plus the units vendors quote contracts in.

One vocabulary everywhere: ``voicegw prices`` shows rates under these names, ``pricing:`` in
voicegw.yaml takes them, and a record's ``price_rates`` stores them. The catalog's names are
voice-prices' ``ModelPrice`` fields, so an override can be written by copying what
``voicegw prices`` shows and changing the number.

Each unit prices one *meter* (a quantity on a usage record) per ``per`` of it. Two units of the same
meter are alternatives: a rate card holds at most one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

TOKEN_METERS = (
    "input",
    "cache_read",
    "cache_write",
    "input_audio",
    "cache_audio_read",
    "output",
    "output_audio",
)


@dataclass(frozen=True, slots=True)
class Unit:
    name: str
    meter: str
    per: int
    label: str


UNITS: dict[str, Unit] = {
    unit.name: unit
    for unit in (
        Unit("input_mtok", "input", 1_000_000, "1M input tokens (uncached text)"),
        Unit("cache_read_mtok", "cache_read", 1_000_000, "1M input tokens read from the cache"),
        Unit("cache_write_mtok", "cache_write", 1_000_000, "1M input tokens written to the cache"),
        Unit("input_audio_mtok", "input_audio", 1_000_000, "1M audio input tokens"),
        Unit(
            "cache_audio_read_mtok",
            "cache_audio_read",
            1_000_000,
            "1M audio input tokens read from the cache",
        ),
        Unit("output_mtok", "output", 1_000_000, "1M output tokens (reasoning included)"),
        Unit("output_audio_mtok", "output_audio", 1_000_000, "1M audio output tokens"),
        Unit("input_kchars", "characters", 1_000, "1,000 characters synthesized"),
        Unit("mchars", "characters", 1_000_000, "1M characters synthesized"),
        Unit("input_audio_kseconds", "seconds", 1_000, "1,000 seconds of audio transcribed"),
        Unit("output_audio_kseconds", "seconds", 1_000, "1,000 seconds of audio produced"),
        Unit("audio_second", "seconds", 1, "second of audio (STT heard, TTS produced)"),
        Unit("audio_minute", "seconds", 60, "minute of audio (STT heard, TTS produced)"),
        Unit("audio_hour", "seconds", 3_600, "hour of audio (STT heard, TTS produced)"),
        Unit(
            "compute_hour",
            "seconds",
            3_600,
            "hour of an engine's work (STT audio heard, TTS audio produced, LLM request time)",
        ),
        Unit("requests_kcount", "requests", 1_000, "1,000 requests (one per usage record)"),
    )
}
"""Every rate name, in display order."""

CATALOG_SECONDS = {"stt": "input_audio_kseconds", "tts": "output_audio_kseconds"}
"""The catalog's per-second rate that applies to a modality's audio: STT hears, TTS produces."""
