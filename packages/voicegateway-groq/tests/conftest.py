"""Fixtures: a started GroqServer and a voicegw.yaml pointing the provider at it."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import voicegateway
from voicegateway import gateway as gateway_module
from voicegateway_testkit.servers.groq import PREFIX, GroqServer

GROQ_KEY = "gsk_test_0123456789"


@pytest.fixture
def groq_server() -> Iterator[GroqServer]:
    with GroqServer(api_key=GROQ_KEY) as server:
        yield server


@pytest.fixture
def use_config(tmp_path: Path) -> Iterator[Callable[[str], voicegateway.Gateway]]:
    """Write a voicegw.yaml and make it the process's gateway; restore the default after."""

    def use(text: str) -> voicegateway.Gateway:
        path = tmp_path / "voicegw.yaml"
        path.write_text(textwrap.dedent(text))
        return voicegateway.configure(path)

    yield use
    gateway_module._default = None


@pytest.fixture
def gateway(use_config, groq_server, monkeypatch) -> voicegateway.Gateway:
    """The groq provider, key from the environment, served by the local fake."""
    monkeypatch.setenv("GROQ_API_KEY", GROQ_KEY)
    return use_config(f"""
        default_project: app
        providers:
          groq: {{base_url: "{groq_server.url}{PREFIX}"}}
        projects:
          app: {{}}
    """)
