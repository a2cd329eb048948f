"""Registers the ``groq`` provider.

``providers.groq.base_url`` is the OpenAI-compatible root (``https://api.groq.com/openai/v1``).
LLMs are billed by tokens, which the plugin (OpenAI's stream with ``include_usage``) reports as
they are billed. Whisper is billed per second of audio with a minimum of 10 seconds per request:
a 2-second utterance costs 10 seconds. LiveKit reports the 2 seconds, so this provider's STT meter
bills the minimum; the seconds actually sent stay in ``audio_seconds_measured``.
"""

from __future__ import annotations

from typing import Any

from voicegateway.plugin_api import (
    BuildRequest,
    ModelInfo,
    ProviderSpec,
    UsageRecord,
    hookimpl,
    meter_stt,
    refuse_login,
)

VOICEGATEWAY_PLUGIN_API = 1

MIN_BILLED_SECONDS = 10.0
"""Groq bills every transcription request for at least this much audio."""

MODELS = (
    ModelInfo("llama-3.3-70b-versatile", "llm"),
    ModelInfo("llama-3.1-8b-instant", "llm"),
    ModelInfo("openai/gpt-oss-120b", "llm", "prompt caching: cached input at half price"),
    ModelInfo("openai/gpt-oss-20b", "llm", "prompt caching: cached input at half price"),
    ModelInfo("meta-llama/llama-4-scout-17b-16e-instruct", "llm"),
    ModelInfo("whisper-large-v3-turbo", "stt", "batch; billed per second, 10 s minimum a request"),
    ModelInfo("whisper-large-v3", "stt", "batch; billed per second, 10 s minimum a request"),
)


def make_llm(request: BuildRequest) -> Any:
    from livekit.plugins import groq

    return groq.LLM(**_common(request), **request.extra)


def make_stt(request: BuildRequest) -> Any:
    from livekit.plugins import groq

    kwargs = _common(request)
    if request.language:
        kwargs["language"] = request.language
    return groq.STT(**kwargs, **request.extra)


def _common(request: BuildRequest) -> dict[str, Any]:
    refuse_login("groq", request.authorization, "Authorization: Bearer <key>")
    kwargs: dict[str, Any] = {"model": request.model, "api_key": request.api_key}
    if request.base_url:
        kwargs["base_url"] = request.base_url
    return kwargs


def meter_groq_stt(metrics: Any, record: UsageRecord) -> bool:
    """Each report of the batch plugin is one request: bill at least the 10-second minimum."""
    billable = meter_stt(metrics, record)
    if record.audio_seconds:
        record.audio_seconds = max(record.audio_seconds, MIN_BILLED_SECONDS)
    return billable


@hookimpl
def register_providers(register):
    register(
        ProviderSpec(
            id="groq",
            llm=make_llm,
            stt=make_stt,
            key_env=("GROQ_API_KEY",),
            price_catalog="groq",
            models=MODELS,
            default_models={"llm": "llama-3.3-70b-versatile", "stt": "whisper-large-v3-turbo"},
            meters={"stt": meter_groq_stt},
            price_page_units={"stt": "audio_hour"},
            livekit_plugins=("livekit.plugins.groq",),
        )
    )


@hookimpl
def register_usage_readers(register):
    from voicegateway.plugin_api import UsageReader, lazy

    module = "voicegateway_groq.usage_export"

    register(
        UsageReader(
            provider="groq",
            name="groq-console-activity",
            description=(
                "Groq console Usage page data: the JSON body of GET api.groq.com/platform/v1/"
                "organizations/{org}/activity, saved from the browser (Groq documents no export)"
            ),
            timezone="UTC",
            sniff=lazy(module, "sniff"),
            read=lazy(module, "read"),
        )
    )
