"""Every record carries a session id: the AgentSession's own (no room here, as in console mode
and tests), or one set by code with ``inference.session()``."""

from __future__ import annotations

import asyncio

import pytest
from livekit.agents import llm

import voicegateway
from voicegateway import inference
from voicegateway.metering.sessions import SESSION_ATTR
from voicegateway_testkit.fakes import FakeLLM, FakeSTT, FakeTTS, voice_turn


@pytest.fixture
def fake(use_config) -> voicegateway.Gateway:
    return use_config("default_project: app\n")


def _models():
    return inference.STT("fake"), inference.LLM("fake"), inference.TTS("fake")


async def _settled(gateway) -> list:
    await asyncio.sleep(0.05)  # the STT stream's closing record
    return gateway.records()


async def test_every_record_of_a_roomless_session_carries_its_id(fake):
    first = await voice_turn(*_models())
    second = await voice_turn(*_models())
    records = await _settled(fake)
    ids = {getattr(first.session, SESSION_ATTR), getattr(second.session, SESSION_ATTR)}
    assert len(ids) == 2 and None not in ids
    assert {r.modality for r in records} == {"stt", "llm", "tts"}
    by_session = {i: [r for r in records if r.session_id == i] for i in ids}
    assert len(records) == sum(len(rs) for rs in by_session.values())  # none without an id
    for rs in by_session.values():
        assert {r.modality for r in rs} == {"stt", "llm", "tts"}
        assert all(r.job_id is None and r.room is None for r in rs)


async def test_plain_plugins_attached_to_a_session_carry_its_id(fake):
    from livekit.agents import AgentSession

    stt, model, tts = FakeSTT(), FakeLLM(), FakeTTS()
    voicegateway.attach(AgentSession(stt=stt, llm=model, tts=tts), project="app")
    turn = await voice_turn(stt, model, tts)
    records = await _settled(fake)
    assert {r.modality for r in records} == {"stt", "llm", "tts"}
    assert {r.session_id for r in records} == {getattr(turn.session, SESSION_ATTR)}


async def _chat(model) -> None:
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content="hello")
    async with model.chat(chat_ctx=ctx) as stream:
        async for _ in stream:
            pass


async def test_session_set_by_code_as_a_call_and_as_a_context_manager(fake):
    model = inference.LLM("fake")
    await _chat(model)
    with inference.session("call-123") as scope:
        assert scope.session_id == "call-123"
        await _chat(model)
        with inference.session("call-124"):
            await _chat(model)
        await _chat(model)
    await _chat(model)

    async def task_that_names_its_call() -> None:
        inference.session("call-200")  # a plain call: this task and what it starts
        await _chat(model)

    await asyncio.create_task(task_that_names_its_call())
    await _chat(model)  # the task's setting stayed in the task
    assert [r.session_id for r in await _settled(fake)] == [
        None, "call-123", "call-124", "call-123", None, "call-200", None,
    ]  # fmt: skip


async def test_a_session_started_under_a_code_id_takes_it_for_all_its_calls(fake):
    with inference.session("call-77"):
        turn = await voice_turn(*_models())
    records = await _settled(fake)
    assert getattr(turn.session, SESSION_ATTR) == "call-77"
    assert {r.modality for r in records} == {"stt", "llm", "tts"}
    assert {r.session_id for r in records} == {"call-77"}


@pytest.mark.parametrize("bad", ["", "  ", None, 5])
def test_a_session_id_is_a_non_empty_string(bad):
    with pytest.raises(ValueError, match="non-empty string"):
        inference.session(bad)
