"""inference.LLM: the real livekit.plugins.openai.LLM, metered, inside a real AgentSession."""

from __future__ import annotations

import logging

import pytest
from livekit.agents import Agent, AgentSession, llm
from livekit.plugins import openai as lk_openai

import voicegateway
from voicegateway import inference
from voicegateway.errors import ModelNotFound, ProviderUnavailable

from .conftest import OPENAI_KEY


async def _turn(model: llm.LLM, text: str = "Hello there") -> str:
    async with AgentSession(llm=model, vad=None, turn_handling={"turn_detection": "manual"}) as s:
        await s.start(Agent(instructions="You are terse."))
        result = await s.run(user_input=text)
        message = result.expect.next_event().is_message(role="assistant")
        return message.event().item.text_content, s.usage.model_usage


async def test_agent_session_turn_is_metered(cloud, openai_server):
    openai_server.reply = "Sure, booked for seven."
    openai_server.prompt_tokens, openai_server.cached_tokens = 42, 10
    openai_server.completion_tokens = 5
    model = inference.LLM("openai/gpt-4o-mini")
    assert isinstance(model, llm.LLM)
    assert isinstance(model.plugin, lk_openai.LLM)
    assert (model.provider, model.model, model.project) == ("openai", "gpt-4o-mini", "app")

    reply, usage = await _turn(model)

    assert reply == "Sure, booked for seven."
    [request] = openai_server.requests_for("/v1/chat/completions")
    assert request.headers["Authorization"] == f"Bearer {OPENAI_KEY}"
    [record] = cloud.records()
    assert (record.modality, record.provider, record.model, record.project) == (
        "llm",
        "openai",
        "gpt-4o-mini",
        "app",
    )
    assert (record.input_tokens, record.cached_tokens, record.output_tokens) == (42, 10, 5)
    assert record.status == "ok"
    assert record.ttfb_ms is not None and record.ttfb_ms > 0
    assert record.duration_ms >= record.ttfb_ms
    # AgentSession saw the same metrics once, relabelled with the provider id, not the host name
    [lk_usage] = usage
    assert (lk_usage.provider, lk_usage.model) == ("openai", "gpt-4o-mini")
    assert (lk_usage.input_tokens, lk_usage.output_tokens) == (42, 5)


async def test_alias_chain_skips_a_missing_provider_and_says_so(cloud, caplog):
    caplog.set_level(logging.WARNING, "voicegateway")
    model = inference.LLM("brain")
    assert model.provider == "openai"
    assert "anthropic/claude-sonnet-4-6" in caplog.text and "disabled" in caplog.text
    await _turn(model)
    [record] = cloud.records()
    assert record.fallback_from == "anthropic/claude-sonnet-4-6"


async def test_project_keys_override_provider_keys(cloud, openai_server):
    model = inference.LLM("openai/gpt-4o-mini", project="other")
    await _turn(model)
    [request] = openai_server.requests_for("/v1/chat/completions")
    assert request.headers["Authorization"] == "Bearer sk-other-project"
    assert cloud.records()[0].project == "other"


async def test_project_context_and_set_project(cloud, openai_server):
    with inference.project("other"):
        assert inference.LLM("openai/gpt-4o-mini").project == "other"
    assert inference.LLM("openai/gpt-4o-mini").project == "app"
    inference.set_project("other")
    try:
        assert inference.LLM("openai/gpt-4o-mini").project == "other"
    finally:
        inference.set_project(None)
    with pytest.raises(ValueError, match=r"othre.*did you mean 'other'"):
        inference.LLM("openai/gpt-4o-mini", project="othre")


async def test_provider_error_is_recorded_with_its_class(cloud, openai_server, no_retry):
    openai_server.fault("/v1/chat/completions", status=500)
    model = inference.LLM("openai/gpt-4o-mini")
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="user", content="hi")
    stream = model.chat(chat_ctx=ctx, conn_options=no_retry)
    with pytest.raises(Exception) as caught:
        async for _ in stream:
            pass
    await stream.aclose()
    [record] = cloud.records()
    assert record.status == "error"
    assert record.error_class == type(caught.value).__name__
    assert record.input_tokens == 0


async def test_missing_key_names_the_variable_and_leaks_nothing(use_config, openai_server):
    use_config(f'providers: {{openai: {{base_url: "{openai_server.url}/v1"}}}}')
    with pytest.raises(ProviderUnavailable) as caught:
        inference.LLM("openai/gpt-4o-mini")
    assert "OPENAI_API_KEY" in str(caught.value)


async def test_unknown_alias_suggests_the_close_one(cloud):
    with pytest.raises(ModelNotFound, match="did you mean 'brain'"):
        inference.LLM("brian")


async def test_install_routes_string_models_through_voicegateway(cloud, openai_server):
    voicegateway.install()
    try:
        session = AgentSession(
            llm="openai/gpt-4o-mini", vad=None, turn_handling={"turn_detection": "manual"}
        )
        assert isinstance(session.llm, inference.LLM)
        async with session:
            await session.start(Agent(instructions="x"))
            await session.run(user_input="Hello")
    finally:
        voicegateway.uninstall()
    assert [r.provider for r in cloud.records()] == ["openai"]
    from livekit.agents import inference as lk_inference

    assert lk_inference.STT.from_model_string.__func__.__module__ == "livekit.agents.inference.stt"


async def test_fallback_argument_is_walked_at_resolve_time(cloud):
    # anthropic is disabled (not installed, in effect); assemblyai has no key
    model = inference.LLM("anthropic/claude-x", fallback=["openai/gpt-4o-mini"])
    resolution = model._built.resolution
    assert (model.provider, resolution.fallback_from) == ("openai", "anthropic/claude-x")
    ears = inference.STT("assemblyai", fallback=[{"model": "deepgram/nova-3:en"}])
    assert (ears.provider, ears.model) == ("deepgram", "nova-3")
    assert ears.plugin._opts.language == "en"
