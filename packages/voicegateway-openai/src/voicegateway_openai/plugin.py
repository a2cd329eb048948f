"""Registers the ``openai`` provider. Light on purpose: the SDK and ``livekit.plugins.openai``
are imported inside the factories, when a model is built."""

from __future__ import annotations

from typing import Any

from voicegateway.hookspecs import hookimpl
from voicegateway.providers import BuildRequest, ModelInfo, ProviderSpec

VOICEGATEWAY_PLUGIN_API = 1

MODELS = (
    ModelInfo("gpt-4o-mini", "llm"),
    ModelInfo("gpt-4o", "llm"),
    ModelInfo("gpt-4.1", "llm"),
    ModelInfo("gpt-4.1-mini", "llm"),
    ModelInfo("gpt-4.1-nano", "llm"),
    ModelInfo("gpt-5", "llm"),
    ModelInfo("gpt-5-mini", "llm"),
    ModelInfo("gpt-5-nano", "llm"),
    ModelInfo("gpt-4o-transcribe", "stt", "billed by audio tokens"),
    ModelInfo("gpt-4o-mini-transcribe", "stt", "billed by audio tokens"),
    ModelInfo("whisper-1", "stt", "billed by the minute"),
    ModelInfo("gpt-4o-mini-tts", "tts", "billed by text and audio tokens"),
    ModelInfo("tts-1", "tts", "billed by the character"),
    ModelInfo("tts-1-hd", "tts", "billed by the character"),
)


def _common(request: BuildRequest) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"model": request.model, "api_key": request.api_key}
    if request.base_url:
        kwargs["base_url"] = request.base_url
    return kwargs


def make_llm(request: BuildRequest) -> Any:
    from livekit.plugins import openai

    return openai.LLM(**_common(request), **request.extra)


def make_stt(request: BuildRequest) -> Any:
    from livekit.plugins import openai

    kwargs = _common(request)
    if request.language:
        kwargs["language"] = request.language
    return openai.STT(**kwargs, **request.extra)


def make_tts(request: BuildRequest) -> Any:
    from livekit.plugins import openai

    kwargs = _common(request)
    if request.voice:
        kwargs["voice"] = request.voice
    # Raw PCM: no decoding on the agent's side, the lowest time to first audio.
    kwargs["response_format"] = "pcm"
    kwargs.update(request.extra)
    return openai.TTS(**kwargs)


@hookimpl
def register_providers(register):
    register(
        ProviderSpec(
            id="openai",
            llm=make_llm,
            stt=make_stt,
            tts=make_tts,
            key_env=("OPENAI_API_KEY",),
            price_catalog="openai",
            models=MODELS,
            default_models={
                "llm": "gpt-4o-mini",
                "stt": "gpt-4o-mini-transcribe",
                "tts": "gpt-4o-mini-tts",
            },
            livekit_plugins=("livekit.plugins.openai",),
        )
    )
