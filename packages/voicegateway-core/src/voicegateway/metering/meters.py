"""Default unit meters: what LiveKit's metrics events say a call consumed, as billable units.

A provider replaces one of these (``ProviderSpec.meters``) where its bill differs from what
LiveKit reports. Meters read attributes only, so this module imports nothing from LiveKit.
"""

from __future__ import annotations

from typing import Any

from voicegateway.records import UsageRecord


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None or seconds < 0 else seconds * 1000.0


def meter_stt(metrics: Any, record: UsageRecord) -> bool:
    """Audio seconds the plugin reported; token-billed STT also carries tokens.

    Websocket plugins emit a zero-usage report when a connection is acquired: not billable.
    """
    record.audio_seconds = float(metrics.audio_duration or 0.0)
    record.input_tokens = int(getattr(metrics, "input_tokens", 0) or 0)
    record.output_tokens = int(getattr(metrics, "output_tokens", 0) or 0)
    record.duration_ms = _ms(metrics.duration) if metrics.duration else None
    return bool(record.audio_seconds or record.input_tokens or record.output_tokens)


def meter_llm(metrics: Any, record: UsageRecord) -> bool:
    """Prompt (cached and cache-creation broken out), completion and reasoning tokens."""
    record.input_tokens = int(metrics.prompt_tokens or 0)
    record.cached_tokens = int(metrics.prompt_cached_tokens or 0)
    record.cache_creation_tokens = int(getattr(metrics, "cache_creation_tokens", 0) or 0)
    record.output_tokens = int(metrics.completion_tokens or 0)
    record.reasoning_tokens = int(getattr(metrics, "reasoning_tokens", 0) or 0)
    record.ttfb_ms = _ms(metrics.ttft)
    record.duration_ms = _ms(metrics.duration)
    if metrics.cancelled:
        record.status = "cancelled"
    return True


def meter_tts(metrics: Any, record: UsageRecord) -> bool:
    """Characters synthesized and audio seconds produced; token-billed TTS also carries tokens."""
    record.characters = int(metrics.characters_count or 0)
    record.audio_seconds = float(metrics.audio_duration or 0.0)
    record.input_tokens = int(getattr(metrics, "input_tokens", 0) or 0)
    record.output_tokens = int(getattr(metrics, "output_tokens", 0) or 0)
    record.ttfb_ms = _ms(metrics.ttfb)
    record.duration_ms = _ms(metrics.duration)
    if metrics.cancelled:
        record.status = "cancelled"
    return True


DEFAULT_METERS = {"stt": meter_stt, "llm": meter_llm, "tts": meter_tts}
