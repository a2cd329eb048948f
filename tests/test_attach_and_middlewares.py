"""attach() meters plain LiveKit plugins through the same chain; plugins add chain steps."""

from __future__ import annotations

import types

import pytest
from livekit.agents import Agent, AgentSession, llm
from livekit.plugins import openai as lk_openai

import voicegateway
from voicegateway import inference
from voicegateway.hookspecs import hookimpl
from voicegateway.metering.middleware import Middleware

from .conftest import OPENAI_KEY


def _plain_llm(server) -> lk_openai.LLM:
    return lk_openai.LLM(model="gpt-4o-mini", api_key=OPENAI_KEY, base_url=f"{server.url}/v1")


async def _turn(session: AgentSession) -> None:
    async with session:
        await session.start(Agent(instructions="x"))
        await session.run(user_input="Hello")


def _session(model) -> AgentSession:
    return AgentSession(llm=model, vad=None, turn_handling={"turn_detection": "manual"})


async def test_attach_meters_a_plain_plugin_under_its_provider_id(cloud, openai_server):
    openai_server.prompt_tokens, openai_server.completion_tokens = 30, 4
    session = _session(_plain_llm(openai_server))
    assert voicegateway.attach(session, project="other") == ["llm:openai/gpt-4o-mini"]
    assert voicegateway.attach(session) == []  # attaching twice changes nothing
    await _turn(session)
    [record] = cloud.records()
    assert (record.provider, record.model, record.project) == ("openai", "gpt-4o-mini", "other")
    assert (record.input_tokens, record.output_tokens) == (30, 4)


async def test_a_call_seen_by_attach_and_inference_is_recorded_once(cloud):
    session = _session(inference.LLM("openai/gpt-4o-mini"))
    assert voicegateway.attach(session) == []
    await _turn(session)
    assert len(cloud.records()) == 1


async def test_attach_meters_each_child_of_a_fallback_adapter(cloud, openai_server, no_retry):
    openai_server.fault("/v1/chat/completions", status=500, times=1)
    primary, backup = _plain_llm(openai_server), _plain_llm(openai_server)
    session = _session(llm.FallbackAdapter([primary, backup], max_retry_per_llm=0))
    assert len(voicegateway.attach(session)) == 2
    await _turn(session)
    records = cloud.records()
    assert [r.status for r in records].count("error") == 1
    assert [r for r in records if r.status == "ok" and r.output_tokens > 0]


class _Refuse(Middleware):
    name = "refuse"

    def on_call_start(self, call):
        if call.project == "blocked":
            raise PermissionError(f"project {call.project} may not call {call.provider}")


class _Tag(Middleware):
    name = "tag"

    def __init__(self):
        self.seen = []

    def on_usage(self, call, record):
        self.seen.append((record.provider, record.status))


@pytest.fixture
def middleware_plugin(use_config):
    gateway = use_config("projects: {default: {}, blocked: {}}")
    tag = _Tag()
    plugin = types.ModuleType("chain_plugin")
    plugin.VOICEGATEWAY_PLUGIN_API = 1

    @hookimpl
    def register_middlewares(register, config):
        assert "blocked" in config.projects  # the hook gets the loaded voicegw.yaml
        register(_Refuse())
        register(tag)

    plugin.register_middlewares = register_middlewares
    gateway.plugins.register(plugin)
    return gateway, tag


async def test_plugins_add_chain_steps_before_recording(middleware_plugin):
    gateway, tag = middleware_plugin
    names = [step.name for step in gateway.chain.steps]
    assert names[-1] == "recording" and {"refuse", "tag"} <= set(names)
    model = inference.LLM("fake/fake-llm")
    async with model.chat(chat_ctx=llm.ChatContext.empty()) as stream:
        async for _ in stream:
            pass
    assert tag.seen == [("fake", "ok")]
    refused = inference.LLM("fake/fake-llm", project="blocked")
    with pytest.raises(PermissionError, match="may not call fake"):
        refused.chat(chat_ctx=llm.ChatContext.empty())
