"""``$OLLAMA_HOST`` read as Ollama's own CLI reads it, against the testkit's OllamaServer: a
voicegw.yaml with an empty ``providers.ollama`` block finds the server in every form."""

from __future__ import annotations

import pytest

from voicegateway import inference
from voicegateway.config import ConfigError
from voicegateway.config.schema import ProviderSettings
from voicegateway_ollama.plugin import api_base, discover_models
from voicegateway_testkit.conformance import drive_llm, wait_ended


@pytest.mark.parametrize("form", ["127.0.0.1:{port}", "http://127.0.0.1:{port}", "0.0.0.0:{port}"])
async def test_each_form_of_ollama_host_reaches_the_server(
    form, configure, ollama_server, monkeypatch
):
    ollama_server.reply = "Hi back."
    port = ollama_server.url.rpartition(":")[2]
    monkeypatch.setenv("OLLAMA_HOST", form.format(port=port))
    gateway = configure()  # providers: {ollama: {}}

    brain = inference.LLM("ollama/llama3.2")
    assert await drive_llm(brain, "Hi") == "Hi back."
    await wait_ended(brain)

    assert [r.path for r in ollama_server.requests] == ["/v1/chat/completions"]
    assert gateway.records()[0].status == "ok"
    assert [m.name for m in discover_models(ProviderSettings(), 2.0)] == list(ollama_server.models)


def test_the_forms_ollama_accepts_become_its_openai_api(monkeypatch):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert api_base(None) == "http://127.0.0.1:11434/v1"
    for host, base in [
        ("0.0.0.0", "http://127.0.0.1:11434/v1"),  # where `ollama serve` listens: this machine
        ("gpu-box", "http://gpu-box:11434/v1"),
        ("gpu-box:8080", "http://gpu-box:8080/v1"),
        ("https://ollama.example.com", "https://ollama.example.com/v1"),
        ("[::]:11434", "http://[::1]:11434/v1"),
    ]:
        monkeypatch.setenv("OLLAMA_HOST", host)
        assert api_base(None) == base, host
    assert api_base("http://gpu-box:11434/v1") == "http://gpu-box:11434/v1"  # base_url wins


def test_a_base_url_that_is_no_address_is_a_load_error_on_its_line(configure):
    # What `http://${OLLAMA_HOST}:11434/v1` made of OLLAMA_HOST=127.0.0.1:11434: a raw
    # InvalidURL at the first call, after `voicegw check` had passed.
    configure(base_url="http://127.0.0.1:11434:11434/v1")
    with pytest.raises(ConfigError) as caught:
        inference.LLM("ollama/llama3.2")
    [issue] = caught.value.issues
    assert issue.path == "providers.ollama.base_url" and issue.line == 1
    assert "is not an Ollama address" in issue.message
