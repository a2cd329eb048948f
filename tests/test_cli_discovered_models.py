"""``voicegw providers`` lists the models a provider's configured server serves
(``ProviderSpec.discover_models``): Ollama's pulled models, from a fake Ollama server, run as a
user runs the command (a real subprocess, a real voicegw.yaml)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from voicegateway_testkit.servers.ollama import OllamaServer

from .conftest import voicegw


def providers_json(cwd: Path) -> dict[str, dict]:
    result = voicegw("providers", "--json", cwd=cwd, home=False)
    assert result.returncode == 0, result.stderr
    return {row["id"]: row for row in json.loads(result.stdout)}


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_lists_the_models_the_configured_ollama_serves(tmp_path):
    with OllamaServer(models=("llama3.2:latest", "qwen2.5:0.5b")) as server:
        (tmp_path / "voicegw.yaml").write_text(
            f"providers:\n  ollama:\n    base_url: {server.url}/v1\n"
        )
        rows = providers_json(tmp_path)
        table = voicegw("providers", cwd=tmp_path, home=False).stdout

    ollama = rows["ollama"]
    assert ollama["discovery_error"] is None
    discovered = [m for m in ollama["models"] if m.get("discovered")]
    assert [(m["name"], m["modality"]) for m in discovered] == [
        ("llama3.2:latest", "llm"),
        ("qwen2.5:0.5b", "llm"),
    ]
    assert all(m["description"] == "3.2B, Q4_K_M, 2.0 GB" for m in discovered)
    assert {"name": "llama3.2", "modality": "llm"} in ollama["models"]  # the listed ones stay
    assert [r.path for r in server.requests] == ["/api/tags", "/api/tags"]
    assert "ollama: the server serves 2 model(s)" in table
    assert "ollama/qwen2.5:0.5b  (3.2B, Q4_K_M, 2.0 GB)" in table
    # providers that cannot discover are listed as before
    assert "discovery_error" not in rows["openai"]


def test_says_clearly_when_no_ollama_server_answers(tmp_path, closed_port):
    (tmp_path / "voicegw.yaml").write_text(
        f"providers:\n  ollama:\n    base_url: http://127.0.0.1:{closed_port}/v1\n"
    )
    rows = providers_json(tmp_path)
    result = voicegw("providers", cwd=tmp_path, home=False)

    ollama = rows["ollama"]
    assert ollama["discovery_error"].startswith(
        f"no Ollama server answered at http://127.0.0.1:{closed_port} ("
    )
    assert not any(m.get("discovered") for m in ollama["models"])
    assert ollama["status"] == "loaded" and rows["openai"]["status"] == "loaded"
    assert result.returncode == 0
    assert (
        f"ollama: could not list the server's models: no Ollama server answered at "
        f"http://127.0.0.1:{closed_port}" in result.stdout
    )


def test_a_broken_voicegw_yaml_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "voicegw.yaml").write_text("providers:\n  ollama:\n    base_ur1: nowhere\n")
    result = voicegw("providers", "--format", "json", cwd=tmp_path, home=False)

    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        "voicegw providers: voicegw.yaml:3:5: providers.ollama.base_ur1: unknown key; "
        "did you mean 'base_url'?\n"
    )
