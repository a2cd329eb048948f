"""Registers the ``elevenlabs`` provider (TTS).

``providers.elevenlabs.base_url`` is the API root with its version
(``https://api.elevenlabs.io/v1``); the plugin adds ``/text-to-speech/{voice}/stream`` and the
``multi-stream-input`` websocket. ElevenLabs bills the characters of the text it is sent, at a
per-model rate (Flash and Turbo cost half a credit a character, Multilingual v2 one), which the
price catalog carries: so characters are the unit. ``synthesize()`` bills its text, ``stream()``
the text pushed, which the core counts even when the agent is interrupted before the segment's
report. The single space that opens a websocket context and the space the plugin appends to each
sentence are protocol padding, not counted.
"""

from __future__ import annotations

from typing import Any

from voicegateway.plugin_api import (
    BuildRequest,
    ModelInfo,
    ProviderSpec,
    hookimpl,
    session_with_login,
)

VOICEGATEWAY_PLUGIN_API = 1

DEFAULT_SAMPLE_RATE = 24000

MODELS = (
    ModelInfo(
        "eleven_turbo_v2_5",
        "tts",
        "voice id in the suffix: elevenlabs/eleven_turbo_v2_5:<voice-id>",
    ),
    ModelInfo("eleven_flash_v2_5", "tts", "lowest latency"),
    ModelInfo("eleven_multilingual_v2", "tts", "highest quality, twice the price per character"),
    ModelInfo("eleven_flash_v2", "tts", "English only"),
    ModelInfo("eleven_turbo_v2", "tts", "English only"),
)


def make_tts(request: BuildRequest) -> Any:
    from livekit.plugins import elevenlabs

    # Raw PCM unless asked otherwise: the plugin's default is MP3, which the agent must decode.
    encoding = request.encoding or f"pcm_{request.sample_rate or DEFAULT_SAMPLE_RATE}"
    kwargs: dict[str, Any] = {
        "model": request.model,
        "api_key": request.api_key,
        "encoding": encoding,
        "http_session": request.http_session,
    }
    if request.authorization:
        # a proxy's login: on every request and websocket, beside the key's own header
        kwargs["http_session"] = session_with_login(
            "elevenlabs", request.http_session, request.authorization
        )
    if request.base_url:
        kwargs["base_url"] = request.base_url.rstrip("/")
    if request.voice:
        kwargs["voice_id"] = request.voice
    if request.language:
        kwargs["language"] = request.language
    kwargs.update(request.extra)
    return elevenlabs.TTS(**kwargs)


@hookimpl
def register_providers(register):
    register(
        ProviderSpec(
            id="elevenlabs",
            tts=make_tts,
            key_env=("ELEVEN_API_KEY", "ELEVENLABS_API_KEY"),
            price_catalog="elevenlabs",
            models=MODELS,
            default_models={"tts": "eleven_turbo_v2_5"},
            livekit_plugins=("livekit.plugins.elevenlabs",),
        )
    )


@hookimpl
def register_usage_readers(register):
    """The elevenlabs usage exports ``voicegw reconcile`` reads (see :mod:`.usage_export`)."""
    from voicegateway.plugin_api import UsageReader, lazy

    module = "voicegateway_elevenlabs.usage_export"

    register(
        UsageReader(
            provider="elevenlabs",
            name="elevenlabs-character-stats",
            description=(
                "Character usage, GET "
                "/v1/usage/character-stats?aggregation_interval=day&breakdown_type=model&metric=tts_characters"
                " from a UTC midnight: TTS characters per model and day, no cost. "
                "https://elevenlabs.io/docs/api-reference/usage/get"
            ),
            timezone="UTC",
            sniff=lazy(module, "sniff_character_stats"),
            read=lazy(module, "read_character_stats"),
        )
    )
