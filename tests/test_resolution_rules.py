"""Resolution never serves a model the user did not ask for: a typo, a model asked for as what it
is not, or a profile's local model that fails are errors, not a silent hand-over to a paid
provider (issue 11, section 1). Real plugins against the testkit's fake servers."""

from __future__ import annotations

import logging
import socket

import pytest
from livekit.agents import APIConnectionError

from voicegateway import inference
from voicegateway.config.loader import starter_yaml
from voicegateway.errors import ModelNotFound
from voicegateway_testkit.conformance import drive_llm

from .conftest import OPENAI_KEY

pytestmark = pytest.mark.usefixtures("private_data_dir")


@pytest.fixture
def starter(use_config, openai_server, monkeypatch, tmp_path):
    """The file `voicegw init` writes, with OpenAI's key set and its API on the local fake (so a
    mis-serve shows as a request there, never on the internet)."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{openai_server.url}/v1")
    text = starter_yaml().replace(
        "~/.local/share/voicegateway/usage.duckdb", str(tmp_path / "usage.duckdb")
    )
    return lambda **kwargs: use_config(text, **kwargs)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_typo_in_the_provider_is_an_error_not_the_fallback(starter, openai_server):
    starter()
    with pytest.raises(ModelNotFound, match=r"unknown provider 'opnai'.*did you mean 'openai'"):
        inference.LLM("opnai/gpt-4o-mini")
    with pytest.raises(ModelNotFound, match="did you mean 'openai'"):
        inference.LLM("openai/gpt-4o-mini", fallback=["opnai/gpt-4o"])
    assert openai_server.requests == []


def test_a_provider_without_the_modality_is_an_error(starter):
    starter()
    with pytest.raises(ModelNotFound, match=r"deepgram/nova-3 cannot serve llm: deepgram offers"):
        inference.LLM("deepgram/nova-3")


def test_a_model_listed_for_another_modality_is_an_error(starter):
    starter()
    with pytest.raises(ModelNotFound, match="openai/tts-1 is a tts model of openai"):
        inference.LLM("openai/tts-1")


async def test_the_dev_profile_never_hands_over_to_a_paid_provider(
    starter, openai_server, monkeypatch
):
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{_closed_port()}")  # Ollama is not running
    starter(profile="dev")
    brain = inference.LLM("brain")
    assert (brain.provider, brain.model) == ("ollama", "llama3.2")
    resolution = brain._built.resolution
    assert (resolution.alternates, resolution.preceding, resolution.skipped) == ((), (), ())
    with pytest.raises(APIConnectionError):
        await drive_llm(brain, "Hello")
    assert openai_server.requests == []


def test_a_hand_over_is_one_warning_naming_both_models_and_why(cloud, caplog):
    caplog.set_level(logging.INFO, "voicegateway")
    model = inference.LLM("brain")
    assert model.provider == "openai"
    [record] = [r for r in caplog.records if "instead of" in r.getMessage()]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert message.startswith("llm 'brain': serving openai/gpt-4o-mini instead of ")
    assert "anthropic/claude-sonnet-4-6 (" in message
    assert "disabled by $VOICEGW_DISABLE_PLUGINS" in message  # why


def test_a_key_setting_unset_is_availability_another_setting_unset_is_an_error(
    use_config, openai_server, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    use_config(f"""
        providers:
          groq: {{api_key: "${{GROQ_KEY}}"}}
          openai: {{base_url: "{openai_server.url}/v1"}}
          deepgram: {{base_url: "${{DEEPGRAM_URL}}"}}
        models:
          brain: [groq/llama-3.3-70b-versatile, openai/gpt-4o-mini]
          ears: [deepgram/nova-3, openai/whisper-1]
    """)
    assert inference.LLM("brain").provider == "openai"  # groq: no key
    with pytest.raises(Exception, match="DEEPGRAM_URL"):
        inference.STT("ears")


async def test_a_run_time_hand_over_is_a_warning_naming_both_models_and_why(
    use_config, openai_server, monkeypatch, caplog
):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    use_config(f"""
        providers:
          openai: {{base_url: "{openai_server.url}/v1"}}
        models:
          brain: [openai/gpt-4o-mini, fake/fake-llm]
    """)
    openai_server.fault("/v1/chat/completions", status=500, times=1)
    brain = inference.LLM("brain")
    caplog.set_level(logging.INFO, "voicegateway")

    await drive_llm(brain, "Hello")

    [record] = [r for r in caplog.records if "served the call instead of" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(
        "llm fake/fake-llm served the call instead of openai/gpt-4o-mini (openai/gpt-4o-mini: "
    )
    assert "500" in record.getMessage()
