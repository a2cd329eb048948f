"""Fixtures: a fake AssemblyAI and a voicegw.yaml pointing the ``assemblyai`` provider at it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import voicegateway
from voicegateway import gateway as gateway_module
from voicegateway_testkit.servers.assemblyai import AssemblyAIServer

KEY = "aai-test-0123456789abcdef"


@pytest.fixture
def assemblyai_server() -> Iterator[AssemblyAIServer]:
    with AssemblyAIServer(api_key=KEY) as server:
        yield server


@pytest.fixture
def configure(tmp_path: Path) -> Iterator[Callable[..., voicegateway.Gateway]]:
    """Make a voicegw.yaml with this ``providers.assemblyai`` block the process's gateway."""

    def use(**block: str) -> voicegateway.Gateway:
        path = tmp_path / "voicegw.yaml"
        path.write_text(json.dumps({"providers": {"assemblyai": block}}))
        return voicegateway.configure(path)

    yield use
    gateway_module._default = None


@pytest.fixture
def gateway(configure, assemblyai_server, monkeypatch) -> voicegateway.Gateway:
    """The fake server configured; the key from ``$ASSEMBLYAI_API_KEY``, as users set it."""
    monkeypatch.setenv("ASSEMBLYAI_API_KEY", KEY)
    return configure(base_url=assemblyai_server.url)
