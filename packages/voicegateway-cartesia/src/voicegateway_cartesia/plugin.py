"""Registers the ``cartesia`` provider (TTS).

``providers.cartesia.base_url`` is the API root (``https://api.cartesia.ai``); the plugin adds
``/tts/bytes`` and ``/tts/websocket``. Cartesia bills about one credit per character of the
transcripts it is sent, on every endpoint, so characters are the unit: ``synthesize()`` bills its
text, ``stream()`` the text pushed, which the core counts even when the agent is interrupted
before the segment's report. The plugin sends each sentence with a trailing space and closes the
context with a lone space; that padding is not counted (Cartesia bills "approximately" per
character, after its own transcript pre-processing).
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

MODELS = (
    ModelInfo("sonic-3", "tts", "voice id in the suffix: cartesia/sonic-3:<voice-id>"),
    ModelInfo("sonic-2", "tts"),
    ModelInfo("sonic-turbo", "tts", "lowest latency"),
)


def make_tts(request: BuildRequest) -> Any:
    from livekit.plugins import cartesia

    kwargs: dict[str, Any] = {
        "model": request.model,
        "api_key": request.api_key,
        "http_session": request.http_session,
    }
    if request.authorization:
        # a proxy's login: on every request and websocket, beside the key's own header
        kwargs["http_session"] = session_with_login(
            "cartesia", request.http_session, request.authorization
        )
    if request.base_url:
        kwargs["base_url"] = request.base_url.rstrip("/")
    if request.voice:
        kwargs["voice"] = request.voice
    if request.language:
        kwargs["language"] = request.language
    if request.sample_rate:
        kwargs["sample_rate"] = request.sample_rate
    if request.encoding:
        kwargs["encoding"] = request.encoding
    return cartesia.TTS(**kwargs, **request.extra)


@hookimpl
def register_providers(register):
    register(
        ProviderSpec(
            id="cartesia",
            tts=make_tts,
            key_env=("CARTESIA_API_KEY",),
            price_catalog="cartesia",
            models=MODELS,
            default_models={"tts": "sonic-3"},
            livekit_plugins=("livekit.plugins.cartesia",),
        )
    )


@hookimpl
def register_usage_readers(register):
    """The cartesia usage exports ``voicegw reconcile`` reads (see :mod:`.usage_export`)."""
    from voicegateway.plugin_api import UsageReader, lazy

    module = "voicegateway_cartesia.usage_export"

    register(
        UsageReader(
            provider="cartesia",
            name="cartesia-credit-usage",
            description=(
                "Credit usage, GET /usage/credits?interval=day (optionally api_key_id=): credits "
                "per day for every model together, read as TTS characters (about 1 credit a "
                "character). https://docs.cartesia.ai/api-reference/usage/credits"
            ),
            timezone="UTC",
            sniff=lazy(module, "sniff_credit_usage"),
            read=lazy(module, "read_credit_usage"),
        )
    )
