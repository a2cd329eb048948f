"""Registers the ``openai`` provider. Light on purpose: the SDK and ``livekit.plugins.openai``
are imported inside the factories, when a model is built."""

from __future__ import annotations

from typing import Any

from voicegateway.plugin_api import BuildRequest, ModelInfo, ProviderSpec, hookimpl

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

    kwargs = _common(request)
    if request.authorization:
        kwargs["extra_headers"] = _authorization(request)
    return openai.LLM(**kwargs, **request.extra)


def make_stt(request: BuildRequest) -> Any:
    from livekit.plugins import openai

    kwargs = _common(request)
    if request.language:
        kwargs["language"] = request.language
    if "client" not in request.extra:
        kwargs["client"] = _client_reporting_transcription_tokens(request)
    return openai.STT(**kwargs, **request.extra)


def _client_reporting_transcription_tokens(request: BuildRequest) -> Any:
    """An SDK client like the plugin's own, whose response hook reads the token usage that
    ``gpt-4o-transcribe`` models return and LiveKit's batch ``recognize()`` drops: those models
    are billed by tokens, so without it they would be priced from audio seconds or not at all."""
    import httpx2 as httpx
    import openai

    from voicegateway.plugin_api import report_usage

    async def on_response(response: Any) -> None:
        if response.status_code != 200 or not response.url.path.endswith("/audio/transcriptions"):
            return
        await response.aread()
        try:
            usage = response.json().get("usage") or {}
        except ValueError:  # text or srt formats carry no usage
            return
        if usage.get("type") == "tokens":
            report_usage(
                input_tokens=int(usage.get("input_tokens") or 0),
                output_tokens=int(usage.get("output_tokens") or 0),
            )

    return openai.AsyncClient(
        max_retries=0,
        api_key=request.api_key,
        base_url=request.base_url,
        default_headers=_authorization(request),
        http_client=httpx.AsyncClient(
            timeout=httpx.Timeout(connect=15.0, read=5.0, write=5.0, pool=5.0),
            follow_redirects=True,
            event_hooks={"response": [on_response]},
        ),
    )


def make_tts(request: BuildRequest) -> Any:
    from livekit.plugins import openai

    kwargs = _common(request)
    if request.voice:
        kwargs["voice"] = request.voice
    # Raw PCM: no decoding on the agent's side, the lowest time to first audio.
    kwargs["response_format"] = "pcm"
    if request.authorization and "client" not in request.extra:
        import openai as sdk

        kwargs["client"] = sdk.AsyncClient(
            max_retries=0,
            api_key=request.api_key,
            base_url=request.base_url,
            default_headers=_authorization(request),
        )
    kwargs.update(request.extra)
    return openai.TTS(**kwargs)


def _authorization(request: BuildRequest) -> dict[str, str] | None:
    """The Basic header for a ``user:password@`` of the configured URL (``BuildRequest``): it
    replaces the key's Bearer header, as httpx did when the URL carried them."""
    return {"Authorization": request.authorization} if request.authorization else None


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
            price_page_units={"stt": "audio_minute", "tts": "mchars"},
            livekit_plugins=("livekit.plugins.openai",),
        )
    )


@hookimpl
def register_usage_readers(register):
    from voicegateway.plugin_api import UsageReader, lazy

    module = "voicegateway_openai.usage_export"

    register(
        UsageReader(
            provider="openai",
            name="openai-usage-api",
            description=(
                "OpenAI Usage API results saved as JSON (GET /v1/organization/usage/completions,"
                " audio_speeches or audio_transcriptions with group_by=model, optionally"
                " project_id): https://platform.openai.com/docs/api-reference/usage"
            ),
            timezone="UTC",
            sniff=lazy(module, "sniff_usage"),
            read=lazy(module, "read_usage"),
        )
    )
    register(
        UsageReader(
            provider="openai",
            name="openai-costs-api",
            description=(
                "OpenAI Costs API results saved as JSON (GET /v1/organization/costs with"
                " group_by=line_item, optionally project_id):"
                " https://platform.openai.com/docs/api-reference/usage/costs"
            ),
            timezone="UTC",
            sniff=lazy(module, "sniff_costs"),
            read=lazy(module, "read_costs"),
            legs=("stt", "llm", "tts"),  # one costs export bills every product
        )
    )
