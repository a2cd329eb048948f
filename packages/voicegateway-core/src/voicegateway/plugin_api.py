"""The one module a VoiceGateway plugin imports from the core: the stable plugin contract.

A provider package imports nothing else from ``voicegateway``, so the core can move its internals
without breaking a plugin::

    import voicegateway.plugin_api as vg

    VOICEGATEWAY_PLUGIN_API = 1         # the contract version this plugin was written against

    @vg.hookimpl
    def register_providers(register):
        register(vg.ProviderSpec(id="acme", tts=make_tts, key_env=("ACME_API_KEY",)))

Every name in ``__all__`` is stable within one :data:`PLUGIN_API_VERSION`: it may gain optional
arguments and fields, and new names may appear; renaming or removing one, or changing what it
means, raises the version (docs/writing-a-provider.md, "The contract"). The hooks themselves are
documented in :mod:`voicegateway.hookspecs`.

Importing this module is as light as a hook module must be: pluggy and the standard library. The
names below marked *lazy* load their module on first access (PEP 562), so a hook module can
import this at its top and still import no pydantic, LiveKit or reconcile code until it uses them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicegateway._lazy import lazy_attributes
from voicegateway.errors import ProviderUnavailable
from voicegateway.hookspecs import hookimpl
from voicegateway.providers import BuildRequest, ModelInfo, ProviderSpec
from voicegateway.records import Call, Meter, UsageRecord
from voicegateway.url_credentials import refuse_login, split_credentials

if TYPE_CHECKING:
    from voicegateway.config.schema import ProviderSettings
    from voicegateway.local_engines import (
        Bundled,
        EngineCache,
        how_to_get,
        local_provider_spec,
        model_path_not_set,
    )
    from voicegateway.login_session import session_with_login
    from voicegateway.metering.instrument import expect_audio, report_usage
    from voicegateway.metering.meters import meter_llm, meter_stt, meter_tts
    from voicegateway.metering.middleware import Middleware
    from voicegateway.reconcile.billed import (
        ALL_MODELS,
        BilledUsage,
        ExportError,
        Page,
        UsageReader,
        nothing_billed,
    )
    from voicegateway.reconcile.exports import (
        TOP,
        JsonFile,
        all_or_nothing,
        json_type,
        lazy,
        part_of_day,
        snapshot_model_name,
        utc_day_from_seconds,
    )

PLUGIN_API_VERSION = 1
"""The version of this contract the core implements. A plugin module sets
``VOICEGATEWAY_PLUGIN_API`` to the version it was written against (a literal, not this constant);
the core refuses to load a plugin that names another one, so an incompatible plugin fails with a
clear message instead of misbehaving at call time."""

__all__ = [  # noqa: RUF022 (grouped by what a plugin does with them, not sorted)
    "PLUGIN_API_VERSION",
    # Registering a provider (hook: register_providers)
    "hookimpl",  # marks a hook implementation; the hooks are in voicegateway.hookspecs
    "ProviderSpec",  # one provider: id, factories, meters, key variables, models
    "ModelInfo",  # one model it knows: name, modality, priced or why not
    "BuildRequest",  # what a factory gets: the resolved model, key, base_url, voice, extra
    "ProviderSettings",  # lazy: subclass it for providers.<id> keys of your own (pydantic)
    "ProviderUnavailable",  # raise it from a factory that cannot build (missing model, login)
    # A base_url's credentials (the key and login never reach an SDK's URL)
    "split_credentials",  # a base_url's user:password@ and key parameter, split off
    "refuse_login",  # for a provider whose key takes the Authorization header
    "session_with_login",  # lazy: an aiohttp session sending the login beside the key's header
    # Metering: billing what the provider bills
    "Meter",  # the signature of ProviderSpec(meters=...): (metrics, record) -> bool
    "UsageRecord",  # what a meter writes units on
    "meter_stt",  # lazy: the core's default meters, for a meter that adjusts what they read
    "meter_llm",  # lazy
    "meter_tts",  # lazy
    "report_usage",  # lazy: add units LiveKit does not report, from inside the call
    "expect_audio",  # lazy: STT seconds billed beyond the audio pushed, from inside the call
    # Steps every call passes (hook: register_middlewares)
    "Middleware",  # lazy: subclass it; on_call_start (raise to refuse), on_usage, on_call_end
    "Call",  # what a step sees: provider, model, project, session, status
    # Engines running in the agent's process (whisper, piper, kokoro)
    "EngineCache",  # lazy: load a model once per process and key, off the event loop
    "local_provider_spec",  # lazy: the ProviderSpec of an in-process engine
    "Bundled",  # lazy: a model shipped in a Python package
    "how_to_get",  # lazy: the missing-model message's "how to get it" part
    "model_path_not_set",  # lazy: the message when no model_path is configured
    # Usage-export readers for `voicegw reconcile` (hook: register_usage_readers)
    "UsageReader",  # lazy: one export format: sniff a file, read it
    "lazy",  # lazy: a reader's read() that imports its module when called
    "BilledUsage",  # lazy: one line of what the provider billed
    "Page",  # lazy: a response covering a span of time, so gaps are visible
    "nothing_billed",  # lazy: the lines of a span the provider billed nothing for
    "ALL_MODELS",  # lazy: the model of a line that covers every model
    "ExportError",  # lazy: a malformed export, naming file, place and field
    "JsonFile",  # lazy: checked reading of a JSON export, errors in one style
    "TOP",  # lazy: the ``where`` of an error in the document itself
    "all_or_nothing",  # lazy: read a file whole before yielding its first line
    "json_type",  # lazy: a JSON value's type name, for errors
    "part_of_day",  # lazy: a bucket's span within its UTC day
    "snapshot_model_name",  # lazy: a dated snapshot's listed model name
    "utc_day_from_seconds",  # lazy: a Unix timestamp's UTC day
]

_LAZY = {
    "ProviderSettings": "voicegateway.config.schema",
    "session_with_login": "voicegateway.login_session",
    "meter_stt": "voicegateway.metering.meters",
    "meter_llm": "voicegateway.metering.meters",
    "meter_tts": "voicegateway.metering.meters",
    "report_usage": "voicegateway.metering.instrument",
    "expect_audio": "voicegateway.metering.instrument",
    "Middleware": "voicegateway.metering.middleware",
    **dict.fromkeys(
        ("EngineCache", "local_provider_spec", "Bundled", "how_to_get", "model_path_not_set"),
        "voicegateway.local_engines",
    ),
    **dict.fromkeys(
        ("UsageReader", "BilledUsage", "Page", "nothing_billed", "ALL_MODELS", "ExportError"),
        "voicegateway.reconcile.billed",
    ),
    **dict.fromkeys(
        (
            "lazy",
            "JsonFile",
            "TOP",
            "all_or_nothing",
            "json_type",
            "part_of_day",
            "snapshot_model_name",
            "utc_day_from_seconds",
        ),
        "voicegateway.reconcile.exports",
    ),
}

__getattr__ = lazy_attributes(__name__, _LAZY)
