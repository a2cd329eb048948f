"""Fixtures: a started GroqServer and a voicegw.yaml pointing the provider at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import voicegateway
from voicegateway_testkit.servers.groq import PREFIX, GroqServer

GROQ_KEY = "gsk_test_0123456789"


@pytest.fixture
def groq_server() -> Iterator[GroqServer]:
    with GroqServer(api_key=GROQ_KEY) as server:
        yield server


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
