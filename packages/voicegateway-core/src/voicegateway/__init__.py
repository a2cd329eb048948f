"""VoiceGateway: metering, budgets and fallbacks between a LiveKit agent and its providers.

``import voicegateway`` is light: it imports nothing beyond the standard library. LiveKit, pluggy,
pydantic and YAML load when first needed (PEP 562 attributes below), so a LiveKit worker pays for
them once, and a CLI listing plugins never imports a provider SDK.

    from voicegateway import inference
    from voicegateway.plain_plugins import attach
    session = AgentSession(stt=inference.STT("deepgram/nova-3"),
                           llm=inference.LLM("openai/gpt-4o-mini"),
                           tts=inference.TTS("listener"))   # or a voicegw.yaml alias
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from voicegateway._version import __version__

if TYPE_CHECKING:
    from voicegateway import inference
    from voicegateway.gateway import Gateway, configure, get_gateway
    from voicegateway.hookspecs import hookimpl
    from voicegateway.plain_plugins import attach
    from voicegateway.string_models import install, uninstall

__all__ = [
    "Gateway",
    "__version__",
    "attach",
    "configure",
    "get_gateway",
    "hookimpl",
    "inference",
    "install",
    "preload",
    "uninstall",
]

_LAZY = {
    "inference": ("voicegateway.inference", None),
    "attach": ("voicegateway.plain_plugins", "attach"),
    "Gateway": ("voicegateway.gateway", "Gateway"),
    "configure": ("voicegateway.gateway", "configure"),
    "get_gateway": ("voicegateway.gateway", "get_gateway"),
    "hookimpl": ("voicegateway.hookspecs", "hookimpl"),
    "install": ("voicegateway.string_models", "install"),
    "uninstall": ("voicegateway.string_models", "uninstall"),
}


def preload() -> list[str]:
    """Import the LiveKit plugins of every provider voicegw.yaml configures (a ``providers:``
    block, or a model chain naming it), on the calling (main) thread; with none configured, of
    every installed provider. Returns the modules.

    LiveKit plugins refuse to register from any thread but the main one, and importing one takes
    about a second: call this at start-up or in a worker's ``prewarm`` function, so that the first
    ``inference.LLM("openai/gpt-4o-mini")`` does not block the event loop importing it.
    """
    from voicegateway.gateway import get_gateway

    return get_gateway().preload()


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'voicegateway' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value
