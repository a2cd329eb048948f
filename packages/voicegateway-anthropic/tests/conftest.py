"""Fixtures: a started AnthropicServer and a voicegw.yaml pointing the provider at it."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import voicegateway
from voicegateway import gateway as gateway_module
from voicegateway_testkit.servers.anthropic import AnthropicServer

ANTHROPIC_KEY = "sk-ant-test-0123456789"


@pytest.fixture
def anthropic_server() -> Iterator[AnthropicServer]:
    with AnthropicServer(api_key=ANTHROPIC_KEY) as server:
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
def gateway(use_config, anthropic_server, monkeypatch) -> voicegateway.Gateway:
    """The anthropic provider, key from the environment, served by the local fake."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    return use_config(f"""
        default_project: app
        providers:
          anthropic: {{base_url: "{anthropic_server.url}"}}
        projects:
          app: {{}}
    """)
