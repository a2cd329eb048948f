"""Fixtures for tests that cross packages: a voicegw.yaml pointing at the testkit's servers
(``use_config`` itself comes from the testkit's pytest plugin), and ``voicegw`` run as a user
runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import voicegateway

OPENAI_KEY = "sk-test-openai-0123456789"
DEEPGRAM_KEY = "dg-test-0123456789"


def voicegw(*args: str, cwd: Path, home: bool = True) -> subprocess.CompletedProcess[str]:
    """``voicegw ARGS`` in a subprocess started in ``cwd``, without this process's ``VOICEGW_*``
    variables; ``home``: with ``HOME`` and the cache directory in ``cwd`` too."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEGW_")}
    if home:
        env.update(HOME=str(cwd), XDG_CACHE_HOME=str(cwd / "cache"))
    return subprocess.run(
        [sys.executable, "-m", "voicegateway.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


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
