"""Registers the ``assemblyai`` provider: Universal-Streaming over AssemblyAI's v3 websocket.

``providers.assemblyai.base_url`` is the streaming host (``wss://streaming.assemblyai.com``, or
``wss://streaming.eu.assemblyai.com``); the plugin adds ``/v3/ws``.

AssemblyAI bills a streaming session for as long as its websocket is open, not for the audio sent;
``livekit-plugins-assemblyai`` reports only the audio it sent, at each end of turn. The factory's
STT (:mod:`voicegateway_assemblyai.stt`) also reports the rest of the session from AssemblyAI's
closing ``Termination`` message, so records add up to the billed ``session_duration_seconds``.

Model names are voice-prices' ids: ``universal-3-5-pro-streaming`` is AssemblyAI's
``universal-3-5-pro`` on the streaming API, which costs more than the same id on the async API.
"""

from __future__ import annotations

from typing import Any

from voicegateway.plugin_api import BuildRequest, ModelInfo, ProviderSpec, hookimpl, refuse_login

VOICEGATEWAY_PLUGIN_API = 1

DEFAULT_BASE_URL = "wss://streaming.assemblyai.com"

_NO_STREAMING_RATE = "voice-prices 0.11.0 has no streaming rate for it"

MODELS = (
    ModelInfo("universal-streaming-english", "stt", "billed per second the session is open"),
    ModelInfo("universal-streaming-multilingual", "stt", "en, es, de, fr, pt, it"),
    ModelInfo(
        "universal-3-5-pro-streaming", "stt", "AssemblyAI's universal-3-5-pro, streaming rate"
    ),
    ModelInfo("universal-3-6-pro", "stt", "the plugin's default", unpriced=_NO_STREAMING_RATE),
    ModelInfo("u3-rt-pro", "stt", "Universal-3 Pro realtime", unpriced=_NO_STREAMING_RATE),
)

STREAMING_SUFFIX = "-streaming"
"""voice-prices names a model's streaming rate ``<id>-streaming`` where AssemblyAI prices the same
id differently on its async API; AssemblyAI itself knows only ``<id>``."""

ASYNC_PRICED = frozenset({"universal-3-5-pro"})
"""Ids voice-prices prices at the async rate: on the streaming API they would be under-billed."""


def speech_model(model: str) -> str:
    """AssemblyAI's ``speech_model`` for a VoiceGateway model name."""
    if model in ASYNC_PRICED:
        raise ValueError(
            f"assemblyai/{model} would be priced at AssemblyAI's async rate; on the streaming "
            f"API write assemblyai/{model}{STREAMING_SUFFIX} (the same model, its streaming rate)"
        )
    return model.removesuffix(STREAMING_SUFFIX)


def make_stt(request: BuildRequest) -> Any:
    from voicegateway_assemblyai.stt import STT

    refuse_login("assemblyai", request.authorization, "Authorization: <key>")
    kwargs: dict[str, Any] = {
        "model": speech_model(request.model),
        "api_key": request.api_key,
        "base_url": request.base_url or DEFAULT_BASE_URL,
        "http_session": request.http_session,
    }
    if request.language:
        kwargs["language_codes"] = request.language
    if request.sample_rate:
        kwargs["sample_rate"] = request.sample_rate
    if request.encoding:
        kwargs["encoding"] = request.encoding
    return STT(**kwargs, **request.extra)


@hookimpl
def register_providers(register):
    register(
        ProviderSpec(
            id="assemblyai",
            stt=make_stt,
            key_env=("ASSEMBLYAI_API_KEY",),
            price_catalog="assemblyai",
            models=MODELS,
            default_models={"stt": "universal-streaming-english"},
            price_page_units={"stt": "audio_hour"},
            livekit_plugins=("livekit.plugins.assemblyai",),
        )
    )


@hookimpl
def register_usage_readers(register):
    from voicegateway.plugin_api import UsageReader, lazy

    module = "voicegateway_assemblyai.usage_export"

    register(
        UsageReader(
            provider="assemblyai",
            name="assemblyai-dashboard-usage-chart",
            description=(
                "AssemblyAI dashboard Usage page, daily chart data ({data, names}, hours per "
                "model label) saved as JSON (AssemblyAI documents no export)"
            ),
            timezone="UTC",
            sniff=lazy(module, "sniff"),
            read=lazy(module, "read"),
            legs=("stt",),
        )
    )
