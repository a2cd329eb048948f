"""Keys never reach a log line, a repr, an error message or a usage record."""

from __future__ import annotations

import logging

import pytest
from livekit.agents import Agent, AgentSession

from voicegateway import inference
from voicegateway.errors import ProviderUnavailable

SECRET = "sk-secret-sentinel-31337"


async def test_a_metered_turn_leaks_the_key_nowhere(use_config, openai_server, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, the SDKs' included
    gateway = use_config(f"""
        providers:
          openai: {{api_key: "{SECRET}", base_url: "{openai_server.url}/v1"}}
    """)
    model = inference.LLM("openai/gpt-4o-mini")
    async with AgentSession(llm=model, vad=None, turn_handling={"turn_detection": "manual"}) as s:
        await s.start(Agent(instructions="x"))
        await s.run(user_input="hi")
    assert openai_server.requests_for("/v1/chat/completions")[0].headers["Authorization"] == (
        f"Bearer {SECRET}"
    )
    seen = [
        caplog.text,
        repr(model._built.resolution),
        repr(gateway.config),
        repr(gateway.config.providers),
        *map(repr, gateway.records()),
    ]
    assert not [text for text in seen if SECRET in text]


async def test_errors_about_keys_name_the_variable_not_a_value(use_config, monkeypatch):
    monkeypatch.setenv("DG_KEY", "")
    use_config('providers: {deepgram: {api_key: "${DG_KEY}"}}')
    with pytest.raises(ProviderUnavailable) as caught:
        inference.STT("deepgram/nova-3")
    assert "DG_KEY" in str(caught.value)


@pytest.mark.parametrize("modality", ["llm", "stt", "tts"])
async def test_a_key_in_the_base_url_goes_in_the_key_header_and_never_into_a_log(
    use_config, openai_server, caplog, modality
):
    # An OpenAI-compatible gateway reached as .../v1?api-key=KEY. httpx logs every request URL
    # at INFO (LiveKit workers log INFO): the URL the SDK gets holds no key, the header does.
    from voicegateway_testkit.conformance import drive_llm, drive_stt, drive_tts, speech

    caplog.set_level(logging.DEBUG)
    use_config(f"""
        providers:
          openai: {{base_url: "{openai_server.url}/v1?api-key={SECRET}"}}
    """)
    model = {"llm": inference.LLM, "stt": inference.STT, "tts": inference.TTS}[modality]
    built = model(f"openai/{dict(llm='gpt-4o-mini', stt='whisper-1', tts='tts-1')[modality]}")

    if modality == "stt":
        await drive_stt(built, speech(1.0))
    else:
        await {"llm": drive_llm, "tts": drive_tts}[modality](built, "Hello")

    [request] = openai_server.requests
    assert request.headers["Authorization"] == f"Bearer {SECRET}"
    assert not request.query
    assert f"HTTP Request: POST {openai_server.url}/v1/" in caplog.text
    assert SECRET not in caplog.text
    assert SECRET not in repr(built._built.resolution)
