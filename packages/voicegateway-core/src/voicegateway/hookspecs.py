"""The plugin contract: every hook a VoiceGateway plugin may implement, documented where declared.

A plugin is a module named by an entry point in the ``voicegateway`` group. The module declares the
plugin API it was written against and implements hooks with :data:`hookimpl`::

    # voicegateway_acme/plugin.py   (entry point:  acme = "voicegateway_acme.plugin")
    import voicegateway.plugin_api as vg

    VOICEGATEWAY_PLUGIN_API = 1

    @vg.hookimpl
    def register_providers(register):
        register(vg.ProviderSpec(id="acme", stt=make_stt, key_env=("ACME_API_KEY",)))

Plugins import these names from :mod:`voicegateway.plugin_api`, the stable contract, which also
holds its version (``PLUGIN_API_VERSION``); this module is where the hooks are declared.

Hook modules must stay light: they are imported when a model of their provider is resolved or when
``voicegw providers``/``check`` asks, so they import no SDK and no ``livekit.plugins.*`` module at
the top. Factories do that when they are called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from voicegateway.config import Config
    from voicegateway.metering.middleware import Middleware
    from voicegateway.providers import ProviderSpec
    from voicegateway.reconcile.billed import UsageReader

PROJECT_NAME = "voicegateway"
"""pluggy project name, and the entry-point group plugins are discovered under."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_providers(register: Callable[[ProviderSpec], None]) -> None:
    """Register the speech and language providers this plugin offers.

    Receives ``register``, a callable taking one :class:`voicegateway.providers.ProviderSpec`.
    Call it once per provider. The spec names the provider id (``deepgram``), its STT/LLM/TTS
    factories, its unit meters, the environment variables its key may come from, the price-catalog
    id it is priced under, and the models it knows.

    Runs once per process, when the plugin is loaded: the first time a model of one of its providers
    is resolved, or when ``voicegw providers``/``check`` lists plugins. It must not do network or
    disk work.

    Example::

        @hookimpl
        def register_providers(register):
            register(ProviderSpec(
                id="acme",
                tts=make_tts,                       # (BuildRequest) -> livekit.agents.tts.TTS
                key_env=("ACME_API_KEY",),
                price_catalog="acme",
                models=(ModelInfo("voice-1", "tts"),),
                default_models={"tts": "voice-1"},
                livekit_plugins=("livekit.plugins.acme",),
            ))
    """


@hookspec
def register_middlewares(register: Callable[[Middleware], None], config: Config) -> None:
    """Add steps to the metering chain every call passes.

    Receives ``register``, a callable taking one
    :class:`voicegateway.metering.middleware.Middleware`
    instance, and ``config``, the loaded voicegw.yaml (a :class:`voicegateway.config.Config`), so a
    step can read its own settings. A step sees each call start (and may refuse it by raising),
    each usage record (after cost tracking, before the record is stored), and each call end.

    Runs once per process, when the gateway builds its chain: on the first call made through
    VoiceGateway. Every installed plugin's hook module is imported then (they are light by
    contract). Steps run on the agent's event loop and must not block; errors they raise while a
    record passes are logged, never raised into the conversation.

    Example::

        class SlowCallAlert(Middleware):
            name = "slow-call-alert"

            def on_usage(self, call, record):
                if record.ttfb_ms and record.ttfb_ms > 1500:
                    log.warning("%s/%s took %.0f ms to first byte",
                                record.provider, record.model, record.ttfb_ms)

        @hookimpl
        def register_middlewares(register, config):
            register(SlowCallAlert())
    """


@hookspec
def register_usage_readers(register: Callable[[UsageReader], None]) -> None:
    """Register readers for the usage exports and invoices of this plugin's providers.

    Receives ``register``, a callable taking one
    :class:`voicegateway.reconcile.billed.UsageReader`. Call it once per format the provider's
    dashboard or usage API produces (OpenAI's usage API results, Anthropic's cost report, ...).
    ``voicegw reconcile`` asks every reader's ``sniff`` which one a file is, then ``read`` turns
    it into :class:`~voicegateway.reconcile.billed.BilledUsage` lines.

    Runs when ``voicegw reconcile`` loads plugins, never in an agent. Keep the readers' parsing
    in a module of its own, imported by ``read`` when it is called.

    Example::

        @hookimpl
        def register_usage_readers(register):
            register(UsageReader(
                provider="acme",
                name="acme-usage-csv",
                description="Usage > Export CSV in the Acme dashboard",
                timezone="UTC",
                sniff=lambda name, head: head.startswith(b"date,model,characters"),
                read=read_usage_csv,                # imports its parser when called
            ))
    """
