"""Registers the ``anthropic`` provider: Claude through ``livekit-plugins-anthropic``.

``providers.anthropic.base_url`` is the API root (``https://api.anthropic.com``); the SDK adds
``/v1/messages``. Anthropic bills uncached input, cache reads, cache writes and output tokens.
The plugin reports the prompt as the sum of the three input counts (what a record's
``input_tokens`` means), cache reads as ``prompt_cached_tokens`` and cache writes as
``cache_creation_tokens``, so the core's LLM meter prices all four. Its output count is wrong,
though: it adds ``message_start``'s provisional ``output_tokens`` to ``message_delta``'s, which is
already the cumulative total, and it ignores the cumulative input counts ``message_delta``
carries. The SDK client built here corrects both (see :class:`_UsageCorrection`).
"""

from __future__ import annotations

import functools
import weakref
from typing import Any

from voicegateway.plugin_api import BuildRequest, ModelInfo, ProviderSpec, hookimpl

VOICEGATEWAY_PLUGIN_API = 1

MODELS = (
    ModelInfo("claude-sonnet-4-6", "llm"),
    ModelInfo("claude-sonnet-4-5", "llm", "input above 200k tokens at the long-context rates"),
    ModelInfo("claude-sonnet-4-20250514", "llm"),
    ModelInfo("claude-haiku-4-5", "llm"),
    ModelInfo("claude-opus-4-6", "llm"),
    ModelInfo("claude-opus-4-5", "llm"),
    ModelInfo("claude-opus-4-1-20250805", "llm"),
    ModelInfo("claude-3-7-sonnet-20250219", "llm"),
    ModelInfo("claude-3-5-haiku-20241022", "llm"),
)


def make_llm(request: BuildRequest) -> Any:
    from livekit.plugins import anthropic

    kwargs: dict[str, Any] = {"model": request.model, "api_key": request.api_key}
    if request.base_url:
        kwargs["base_url"] = request.base_url
    extra = dict(request.extra)
    if "client" not in extra:
        # the plugin applies timeout and max_retries to the client it builds; so do we
        kwargs["client"] = _client(
            request, timeout=extra.pop("timeout", None), max_retries=extra.pop("max_retries", 0)
        )
    return anthropic.LLM(**kwargs, **extra)


def _client(request: BuildRequest, *, timeout: Any, max_retries: int) -> Any:
    """The client the plugin would build itself (same default timeouts and pool, no SDK retries:
    LiveKit owns retries), with the usage correction. A proxy's login from the configured URL
    goes as the ``Authorization`` header; the key keeps its own (``x-api-key``)."""
    import anthropic
    import httpx2 as httpx

    return _client_class(anthropic.AsyncClient)(
        api_key=request.api_key,
        base_url=request.base_url,
        max_retries=max_retries,
        default_headers={"Authorization": request.authorization} if request.authorization else None,
        http_client=httpx.AsyncClient(
            timeout=timeout or httpx.Timeout(5.0, read=30.0),
            follow_redirects=True,
            limits=httpx.Limits(
                max_connections=1000, max_keepalive_connections=100, keepalive_expiry=120
            ),
        ),
    )


class _UsageCorrection:
    """Mixed into ``anthropic.AsyncClient``: makes streamed usage add up to the bill.

    Anthropic's ``message_delta`` usage holds cumulative totals (the SDK's own accumulator
    overwrites with them), and ``message_start``'s ``output_tokens`` is a provisional count
    already inside the final total. ``livekit-plugins-anthropic`` 1.8.9 adds the two output
    counts, overbilling every reply, and keeps ``message_start``'s input counts even when
    ``message_delta`` reports larger ones (server-side tools add input while they run). Every
    streamed event passes through ``_process_response_data``, so this zeroes the provisional
    output count before the plugin reads it and reports any input the final totals add with
    :func:`~voicegateway.plugin_api.report_usage` (the plugin's stream runs inside the
    call, so the units land on its record).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # message_start usage per streamed response, until its message_delta
        self._started: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    def _process_response_data(self, *, data: object, cast_to: Any, response: Any) -> Any:
        event = super()._process_response_data(  # type: ignore[misc]
            data=data, cast_to=cast_to, response=response
        )
        kind = getattr(event, "type", None)
        if kind == "message_start":
            usage = event.message.usage
            self._started[response] = usage.model_copy()
            usage.output_tokens = 0
        elif kind == "message_delta":
            start = self._started.pop(response, None)
            if start is not None:
                _report_added_input(start, event.usage)
        return event


@functools.cache
def _client_class(base: type) -> type:
    return type("UsageCorrectedAsyncClient", (_UsageCorrection, base), {})


def _report_added_input(start: Any, final: Any) -> None:
    from voicegateway.plugin_api import report_usage

    def added(field: str) -> int:
        total = getattr(final, field, None)
        return 0 if total is None else max(0, total - (getattr(start, field, None) or 0))

    uncached = added("input_tokens")
    read = added("cache_read_input_tokens")
    written = added("cache_creation_input_tokens")
    if uncached or read or written:
        report_usage(
            input_tokens=uncached + read + written,
            cached_tokens=read,
            cache_creation_tokens=written,
        )


@hookimpl
def register_providers(register):
    register(
        ProviderSpec(
            id="anthropic",
            llm=make_llm,
            key_env=("ANTHROPIC_API_KEY",),
            price_catalog="anthropic",
            models=MODELS,
            default_models={"llm": "claude-sonnet-4-6"},
            livekit_plugins=("livekit.plugins.anthropic",),
        )
    )


@hookimpl
def register_usage_readers(register):
    from voicegateway.plugin_api import UsageReader, lazy

    module = "voicegateway_anthropic.usage_export"

    register(
        UsageReader(
            provider="anthropic",
            name="anthropic-usage-report",
            description=(
                "Anthropic Admin API messages usage report saved as JSON"
                " (GET /v1/organizations/usage_report/messages with group_by[]=model,"
                " optionally workspace_id):"
                " https://platform.claude.com/docs/en/api/admin/usage_report/retrieve_messages"
            ),
            timezone="UTC",
            sniff=lazy(module, "sniff_usage"),
            read=lazy(module, "read_usage"),
            legs=("llm",),
        )
    )
    register(
        UsageReader(
            provider="anthropic",
            name="anthropic-cost-report",
            description=(
                "Anthropic Admin API cost report saved as JSON"
                " (GET /v1/organizations/cost_report with group_by[]=description, optionally"
                " workspace_id): https://platform.claude.com/docs/en/api/admin/cost_report/retrieve"
            ),
            timezone="UTC",
            sniff=lazy(module, "sniff_costs"),
            read=lazy(module, "read_costs"),
            legs=("llm",),
        )
    )
