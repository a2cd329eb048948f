"""Test VoiceGateway code and provider plugins without keys, network or a LiveKit server.

- :mod:`voicegateway_testkit.fakes`: ``FakeSTT``, ``FakeLLM``, ``FakeTTS`` (LiveKit plugin classes
  that emit ``metrics_collected`` through LiveKit's own machinery) and ``FakeAudioInput`` /
  ``FakeAudioOutput`` for a voice ``AgentSession``.
- :mod:`voicegateway_testkit.servers`: ``OpenAIServer``, ``AnthropicServer``, ``GroqServer``,
  ``OllamaServer``, ``DeepgramServer``, ``AssemblyAIServer``, ``CartesiaServer`` and
  ``ElevenLabsServer``, local servers that speak the providers' wire protocols to the *real*
  LiveKit plugins, record every request and inject faults.
- :mod:`voicegateway_testkit.conformance`: ``ProviderConformance``, the suite every provider
  distribution subclasses (docs/writing-a-provider.md).
- :mod:`voicegateway_testkit.audio`: PCM and ``rtc.AudioFrame`` helpers.
- :mod:`voicegateway_testkit.provider`: the ``fake`` provider, discovered like any plugin.
- :mod:`voicegateway_testkit.pytest_plugin`: fixtures, loaded by pytest automatically.

This module stays light (stdlib only) because pytest imports the package for every run. The
fakes and servers are importable from here too; they load on first use.
"""

from __future__ import annotations

import importlib
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voicegateway_testkit.fakes import (
        FakeAudioInput,
        FakeAudioOutput,
        FakeLLM,
        FakeSTT,
        FakeTTS,
    )
    from voicegateway_testkit.servers import (
        AnthropicServer,
        AssemblyAIServer,
        CartesiaServer,
        DeepgramServer,
        ElevenLabsServer,
        FakeServer,
        GroqServer,
        OllamaServer,
        OpenAIServer,
    )

__all__ = [
    "AnthropicServer",
    "AssemblyAIServer",
    "CartesiaServer",
    "DeepgramServer",
    "ElevenLabsServer",
    "FakeAudioInput",
    "FakeAudioOutput",
    "FakeLLM",
    "FakeSTT",
    "FakeServer",
    "FakeTTS",
    "GroqServer",
    "OllamaServer",
    "OpenAIServer",
    "Script",
    "ScriptSource",
]

ScriptSource = str | Sequence[str] | Callable[[Any], str]
"""A fixed text, texts to say in order, or a function of the request."""


class Script:
    """What a fake answers next: its reply, transcript or spoken text.

    A string is answered every time. A sequence is answered in order and its last entry repeats
    once it runs out, so a test scripts a conversation without counting turns. A callable
    receives the request (each fake documents what it passes) and returns the text.
    """

    def __init__(self, source: ScriptSource) -> None:
        self._fn: Callable[[Any], str] | None = None
        self._queue: deque[str] = deque()
        if isinstance(source, str):
            self._queue.append(source)
        elif callable(source):
            self._fn = source
        else:
            self._queue.extend(source)
            if not self._queue:
                raise ValueError("a scripted sequence needs at least one entry")

    def next(self, request: Any = None) -> str:
        if self._fn is not None:
            return self._fn(request)
        return self._queue.popleft() if len(self._queue) > 1 else self._queue[0]


class Scripted:
    """A class attribute holding a :class:`Script`, assignable from any ``ScriptSource``:
    ``server.reply = ["Hi.", "Bye."]``."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._attr = f"_{name}"

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        return self if obj is None else getattr(obj, self._attr)

    def __set__(self, obj: Any, source: ScriptSource) -> None:
        setattr(obj, self._attr, Script(source))


_LAZY = {
    "FakeAudioInput": "voicegateway_testkit.fakes",
    "FakeAudioOutput": "voicegateway_testkit.fakes",
    "FakeLLM": "voicegateway_testkit.fakes",
    "FakeSTT": "voicegateway_testkit.fakes",
    "FakeTTS": "voicegateway_testkit.fakes",
    "AnthropicServer": "voicegateway_testkit.servers",
    "AssemblyAIServer": "voicegateway_testkit.servers",
    "CartesiaServer": "voicegateway_testkit.servers",
    "DeepgramServer": "voicegateway_testkit.servers",
    "ElevenLabsServer": "voicegateway_testkit.servers",
    "FakeServer": "voicegateway_testkit.servers",
    "GroqServer": "voicegateway_testkit.servers",
    "OllamaServer": "voicegateway_testkit.servers",
    "OpenAIServer": "voicegateway_testkit.servers",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
