"""pytest fixtures for VoiceGateway tests and plugin authors, loaded through the ``pytest11`` entry
point (disable with ``-p no:voicegateway``).

- ``openai_server`` / ``deepgram_server``: a started ``OpenAIServer`` / ``DeepgramServer``,
  stopped after the test.
- ``lk_http``: an open ``livekit.agents.utils.http_context``, which aiohttp-based plugins
  (deepgram, cartesia, elevenlabs, ...) need outside a LiveKit job; yields the session.
- ``no_retry``: ``APIConnectOptions(max_retry=0, timeout=5)``, so a failing call fails at once
  instead of retrying with back-off.
- ``use_config``: ``use_config(text, **kwargs)`` writes ``text`` (dedented) as the test's
  voicegw.yaml and makes it the process's gateway (``voicegateway.configure``); the default
  gateway comes back after the test.
- ``no_provider_keys`` (autouse): removes every provider and LiveKit credential from the
  environment, so no test reaches a real account by accident. A test that needs one sets it.
- ``private_data_dir`` (autouse): a fresh ``$XDG_DATA_HOME``, so the default usage ledger of
  every test is its own, never the user's; ``$VOICEGW_CONFIG``/``$VOICEGW_PROFILE`` are unset.

pytest imports this module for every run in every project that has the testkit installed, so it
imports only pytest and the standard library at the top; each fixture imports what it needs.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import aiohttp
    from livekit.agents import APIConnectOptions

    from voicegateway_testkit.servers import DeepgramServer, OpenAIServer

try:  # pytest-asyncio's strict mode only runs async fixtures it decorated itself
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover - without pytest-asyncio, async fixtures cannot run anyway
    _async_fixture = pytest.fixture

_KEY_SUFFIXES = ("_API_KEY", "_API_SECRET", "_ACCESS_TOKEN")
_KEY_PREFIXES = ("LIVEKIT_",)
_KEY_NAMES = frozenset(
    {
        "OPENAI_BASE_URL",
        "OPENAI_ORG_ID",
        "OPENAI_PROJECT_ID",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_AD_TOKEN",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_AUTH_TOKEN",
        "GOOGLE_APPLICATION_CREDENTIALS",
    }
)


def _is_credential(name: str) -> bool:
    return name in _KEY_NAMES or name.startswith(_KEY_PREFIXES) or name.endswith(_KEY_SUFFIXES)


@pytest.fixture(autouse=True)
def no_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset provider and LiveKit credentials (``*_API_KEY``, ``LIVEKIT_*``, base URLs, ...)."""
    for name in list(os.environ):
        if _is_credential(name):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point ``$XDG_DATA_HOME`` (where the default usage ledger and its spool live) at a fresh
    directory, so no test writes into the user's real ledger. Yields that directory."""
    path = tmp_path_factory.mktemp("xdg-data")
    monkeypatch.setenv("XDG_DATA_HOME", str(path))
    monkeypatch.delenv("VOICEGW_CONFIG", raising=False)
    monkeypatch.delenv("VOICEGW_PROFILE", raising=False)
    return path


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    from voicegateway_testkit.servers import OpenAIServer

    with OpenAIServer() as server:
        yield server


@pytest.fixture
def deepgram_server() -> Iterator[DeepgramServer]:
    from voicegateway_testkit.servers import DeepgramServer

    with DeepgramServer() as server:
        yield server


@_async_fixture
async def lk_http() -> AsyncIterator[aiohttp.ClientSession]:
    from livekit.agents.utils import http_context

    async with http_context.open() as session:
        yield session


@pytest.fixture
def no_retry() -> APIConnectOptions:
    from livekit.agents import APIConnectOptions

    return APIConnectOptions(max_retry=0, timeout=5)


@pytest.fixture
def use_config(tmp_path: Path) -> Iterator[Any]:
    """A voicegw.yaml in the test's ``tmp_path``, configured as the process's gateway."""
    import textwrap

    import voicegateway
    from voicegateway import gateway as gateway_module

    def use(text: str, **kwargs: Any) -> voicegateway.Gateway:
        path = tmp_path / "voicegw.yaml"
        path.write_text(textwrap.dedent(text))
        return voicegateway.configure(path, **kwargs)

    yield use
    gateway_module._default = None
