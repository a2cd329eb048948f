"""Registers the ``deepgram`` provider.

``providers.deepgram.base_url`` is the API root (``https://api.deepgram.com/v1``); the factories
add ``/listen`` and ``/speak``. Deepgram bills a streaming connection for its whole lifetime; the
factory's STT (:mod:`voicegateway_deepgram.stt`) reports each connection's lifetime measured at
the socket, and hands it to the call so a stream closed with ``aclose()`` still bills it. The
core's default STT meter then is the bill.
"""

from __future__ import annotations

from typing import Any

from voicegateway.plugin_api import BuildRequest, ModelInfo, ProviderSpec, hookimpl, refuse_login

VOICEGATEWAY_PLUGIN_API = 1

DEFAULT_BASE_URL = "https://api.deepgram.com/v1"

MODELS = (
    ModelInfo("nova-3", "stt", "streaming; billed per second of connection"),
    ModelInfo("nova-3-medical", "stt"),
    ModelInfo("nova-2", "stt"),
    ModelInfo("nova-2-phonecall", "stt"),
    ModelInfo("aura-2", "tts", "voice in the suffix: deepgram/aura-2:andromeda-en"),
    ModelInfo(
        "aura",
        "tts",
        "voice in the suffix: deepgram/aura:asteria-en",
        unpriced="voice-prices prices Aura-1 by full voice name (deepgram/aura-asteria-en)",
    ),
)


def _url(request: BuildRequest, path: str) -> str:
    refuse_login("deepgram", request.authorization, "Authorization: Token <key>")
    return (request.base_url or DEFAULT_BASE_URL).rstrip("/") + path


def make_stt(request: BuildRequest) -> Any:
    from voicegateway_deepgram.stt import STT

    kwargs: dict[str, Any] = {
        "model": request.model,
        "api_key": request.api_key,
        "base_url": _url(request, "/listen"),
        "http_session": request.http_session,
    }
    if request.language:
        kwargs["language"] = request.language
    if request.sample_rate:
        kwargs["sample_rate"] = request.sample_rate
    return STT(**kwargs, **request.extra)


DEFAULT_VOICES = {"aura-2": "andromeda-en", "aura": "asteria-en"}
"""The voice of a model family named without one (``deepgram/aura-2``), so records name the
family, as Deepgram's prices and usage exports do, whatever the voice."""


def tts_model_name(model: str, voice: str | None) -> str:
    """Deepgram names a TTS model with its voice: ``aura-2`` + ``andromeda-en`` is
    ``aura-2-andromeda-en``. A full name passes through unchanged."""
    voice = voice or DEFAULT_VOICES.get(model)
    return f"{model}-{voice}" if voice else model


def billed_model(modality: str, model: str) -> str:
    """An Aura-2 voice is billed as its family: ``aura-2-andromeda-en`` is ``aura-2``, as
    Deepgram's prices and usage exports name it. Aura-1 is priced per voice: unchanged."""
    return "aura-2" if modality == "tts" and model.startswith("aura-2-") else model


def make_tts(request: BuildRequest) -> Any:
    from livekit.plugins import deepgram

    kwargs: dict[str, Any] = {
        "model": tts_model_name(request.model, request.voice),
        "api_key": request.api_key,
        "base_url": _url(request, "/speak"),
        "http_session": request.http_session,
    }
    if request.sample_rate:
        kwargs["sample_rate"] = request.sample_rate
    return deepgram.TTS(**kwargs, **request.extra)


@hookimpl
def register_providers(register):
    register(
        ProviderSpec(
            id="deepgram",
            stt=make_stt,
            tts=make_tts,
            key_env=("DEEPGRAM_API_KEY",),
            price_catalog="deepgram",
            models=MODELS,
            default_models={"stt": "nova-3", "tts": "aura-2"},
            price_page_units={"stt": "audio_minute"},
            livekit_plugins=("livekit.plugins.deepgram",),
            billed_model=billed_model,
        )
    )


@hookimpl
def register_usage_readers(register):
    """The deepgram usage exports ``voicegw reconcile`` reads (see :mod:`.usage_export`)."""
    from voicegateway.plugin_api import UsageReader, lazy

    module = "voicegateway_deepgram.usage_export"

    register(
        UsageReader(
            provider="deepgram",
            name="deepgram-usage-breakdown",
            description=(
                "Usage breakdown, GET /v1/projects/{project_id}/usage/breakdown?grouping=models "
                "(daily; add endpoint and accessor to the grouping): audio hours and TTS "
                "characters per model and day, no cost. "
                "https://developers.deepgram.com/reference/manage/usage/breakdown/get"
            ),
            timezone="UTC",
            sniff=lazy(module, "sniff_usage_breakdown"),
            read=lazy(module, "read_usage_breakdown"),
        )
    )
    register(
        UsageReader(
            provider="deepgram",
            name="deepgram-billing-breakdown",
            description=(
                "Billing breakdown, GET "
                "/v1/projects/{project_id}/billing/breakdown?grouping=line_item (daily): dollars "
                "per line item (streaming::nova-3) and day. "
                "https://developers.deepgram.com/reference/manage/billing/breakdown/get"
            ),
            timezone="UTC",
            sniff=lazy(module, "sniff_billing_breakdown"),
            read=lazy(module, "read_billing_breakdown"),
        )
    )
