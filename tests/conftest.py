"""Fixtures for tests that cross packages: a voicegw.yaml pointing at the testkit's servers."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import voicegateway
from voicegateway import gateway as gateway_module

OPENAI_KEY = "sk-test-openai-0123456789"
DEEPGRAM_KEY = "dg-test-0123456789"


@pytest.fixture
def use_config(tmp_path: Path) -> Iterator[Callable[[str], voicegateway.Gateway]]:
    """Write a voicegw.yaml and make it the process's gateway; restore the default after."""

    def use(text: str, **kwargs) -> voicegateway.Gateway:
        path = tmp_path / "voicegw.yaml"
        path.write_text(textwrap.dedent(text))
        return voicegateway.configure(path, **kwargs)

    yield use
    gateway_module._default = None


@pytest.fixture
def cloud(use_config, openai_server, deepgram_server, monkeypatch) -> voicegateway.Gateway:
    """OpenAI and Deepgram, keys from the environment, both served by local fakes; the
    anthropic plugin is disabled, as if not installed, so `brain` starts with a missing provider."""
    monkeypatch.setenv("VOICEGW_DISABLE_PLUGINS", "anthropic")
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("DEEPGRAM_API_KEY", DEEPGRAM_KEY)
    return use_config(f"""
        default_project: app
        providers:
          openai: {{base_url: "{openai_server.url}/v1"}}
          deepgram: {{base_url: "{deepgram_server.url}/v1"}}
        projects:
          app: {{}}
          other:
            providers: {{openai: {{api_key: "${{OTHER_OPENAI_KEY:-sk-other-project}}"}}}}
        models:
          listener: deepgram/nova-3
          brain: [anthropic/claude-sonnet-4-6, openai/gpt-4o-mini]
          voice: deepgram/aura-2:andromeda-en
    """)
