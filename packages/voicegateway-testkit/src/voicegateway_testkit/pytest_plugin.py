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
- ``no_provider_keys``: removes every provider and LiveKit credential from the environment, so
  no test reaches a real account by accident. A test that needs one sets it.
- ``private_data_dir``: a fresh ``$XDG_DATA_HOME``, so the default usage ledger of the test is
  its own, never the user's; ``$VOICEGW_CONFIG``/``$VOICEGW_PROFILE`` are unset.
- ``fake_provider``: the testkit's ``fake`` provider discoverable for the test (and the
  subprocesses it starts); see :mod:`voicegateway_testkit.fake_discovery`.

Nothing is autouse: installing the testkit changes no test of a project that does not ask. A test
asks by naming the fixture (or ``@pytest.mark.usefixtures(...)``); a project asks for every test
with the ini option ``voicegateway_autouse`` (``voicegateway_autouse = ["no_provider_keys",
"private_data_dir", "fake_provider"]`` under ``[tool.pytest.ini_options]``, as this repository
does). ``fake_provider`` there makes the fake discoverable for the whole run, collection included.

pytest imports this module for every run in every project that has the testkit installed, so it
imports only pytest and the standard library at the top; each fixture imports what it needs.
"""

from __future__ import annotations

import contextlib
import os
import sys
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

AUTOUSE_INI = "voicegateway_autouse"
OPTIONAL = ("no_provider_keys", "private_data_dir", "fake_provider")
"""The fixtures ``voicegateway_autouse`` may name."""
_SESSION_FAKE = pytest.StashKey[contextlib.ExitStack]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        AUTOUSE_INI,
        type="args",
        default=[],
        help=f"voicegateway-testkit fixtures every test uses (any of: {', '.join(OPTIONAL)})",
    )


def pytest_configure(config: pytest.Config) -> None:
    names = config.getini(AUTOUSE_INI)
    unknown = sorted(set(names) - set(OPTIONAL))
    if unknown:
        raise pytest.UsageError(
            f"{AUTOUSE_INI}: unknown fixture(s) {', '.join(unknown)}; "
            f"it takes any of {', '.join(OPTIONAL)}"
        )
    if "fake_provider" in names:  # for the whole run: conformance suites read it to collect
        from voicegateway_testkit.fake_discovery import discoverable

        stack = config.stash[_SESSION_FAKE] = contextlib.ExitStack()
        stack.enter_context(discoverable())
    per_test = [name for name in names if name != "fake_provider"]
    if per_test:
        config.pluginmanager.register(_AutoUse(per_test), "voicegateway-autouse")


def pytest_unconfigure(config: pytest.Config) -> None:
    stack = config.stash.get(_SESSION_FAKE, None)
    if stack is not None:
        stack.close()


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    """A conformance suite's check that does not apply to its provider is not collected (its
    parametrization, ``ProviderConformance.pytest_generate_tests``, would be empty: a skip)."""
    conformance = sys.modules.get("voicegateway_testkit.conformance")  # imported by a suite
    if conformance is None or not isinstance(collector, pytest.Class):
        return None
    suite = collector.obj
    if issubclass(suite, conformance.ProviderConformance) and suite.cases(name) == []:
        return []
    return None


class _AutoUse:
    """Registered only when ``voicegateway_autouse`` names fixtures: every test uses them."""

    def __init__(self, names: list[str]) -> None:
        self.names = names

    @pytest.fixture(autouse=True)
    def _voicegateway_autouse(self, request: pytest.FixtureRequest) -> None:
        for name in self.names:
            request.getfixturevalue(name)


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


@pytest.fixture
def no_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset provider and LiveKit credentials (``*_API_KEY``, ``LIVEKIT_*``, base URLs, ...)."""
    for name in list(os.environ):
        if _is_credential(name):
            monkeypatch.delenv(name)


@pytest.fixture
def private_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point ``$XDG_DATA_HOME`` (where the default usage ledger and its spool live) at a fresh
    directory, so no test writes into the user's real ledger. Yields that directory."""
    path = tmp_path_factory.mktemp("xdg-data")
    monkeypatch.setenv("XDG_DATA_HOME", str(path))
    monkeypatch.delenv("VOICEGW_CONFIG", raising=False)
    monkeypatch.delenv("VOICEGW_PROFILE", raising=False)
    return path


@pytest.fixture
def fake_provider(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The ``fake`` provider discoverable for this test and the processes it starts (through
    ``sys.path`` and ``$PYTHONPATH``); yields the directory of its distribution's metadata."""
    from voicegateway_testkit.fake_discovery import search_path, write_distribution

    directory = write_distribution(tmp_path_factory.mktemp("fake-provider"))
    monkeypatch.syspath_prepend(str(directory))
    monkeypatch.setenv("PYTHONPATH", search_path(directory, os.environ.get("PYTHONPATH")))
    return directory


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
