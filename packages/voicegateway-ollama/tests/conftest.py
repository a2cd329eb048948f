"""Fixtures: a fake Ollama and a voicegw.yaml pointing the ``ollama`` provider at it."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import voicegateway
from voicegateway import gateway as gateway_module
from voicegateway_testkit.servers.ollama import OllamaServer


@pytest.fixture
def ollama_server() -> Iterator[OllamaServer]:
    with OllamaServer() as server:
        yield server


@pytest.fixture
def configure(tmp_path: Path) -> Iterator[Callable[..., voicegateway.Gateway]]:
    """Make a voicegw.yaml with this ``providers.ollama`` block the process's gateway."""

    def use(**block: str) -> voicegateway.Gateway:
        path = tmp_path / "voicegw.yaml"
        path.write_text(json.dumps({"providers": {"ollama": block}}))
        return voicegateway.configure(path)

    yield use
    gateway_module._default = None


@pytest.fixture
def gateway(configure, ollama_server) -> voicegateway.Gateway:
    return configure(base_url=f"{ollama_server.url}/v1")


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
