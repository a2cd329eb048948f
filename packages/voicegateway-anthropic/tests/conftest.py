"""Fixtures: a started AnthropicServer and a voicegw.yaml pointing the provider at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import voicegateway
from voicegateway_testkit.servers.anthropic import AnthropicServer

ANTHROPIC_KEY = "sk-ant-test-0123456789"


@pytest.fixture
def anthropic_server() -> Iterator[AnthropicServer]:
    with AnthropicServer(api_key=ANTHROPIC_KEY) as server:
        yield server


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
