"""How calls become records: one call per stream, one record per billable report, and a record
for calls that fail or are cancelled before the provider reports anything. Uses the ``fake``
provider, found through its entry point like any plugin."""

from __future__ import annotations

import asyncio

import pytest
from livekit.agents import llm

from voicegateway import inference


def _chat_context(text: str = "hello there") -> llm.ChatContext:
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="user", content=text)
    return ctx


async def test_streaming_tts_reports_carry_their_stream_call(use_config):
    """LiveKit starts a SynthesizeStream's metrics task on the first push_text, in the caller's
    context; the instrument starts it inside the call instead, so the report is the call's."""
    gateway = use_config("default_project: default")
    voice = inference.TTS("fake/fake-tts", extra_kwargs={"streaming": True})
    for text in ("Hello there. ", "Bye."):
        async with voice.stream() as stream:
            stream.push_text(text[:3])
            stream.push_text(text[3:])
            stream.end_input()
            async for _ in stream:
                pass
    records = gateway.records()
    assert [r.characters for r in records] == [len("Hello there. "), len("Bye.")]
    assert records[0].call_id != records[1].call_id
    assert all(r.status == "ok" and r.ttfb_ms is not None for r in records)


async def test_each_chat_is_its_own_call(use_config):
    gateway = use_config("{}")
    usage = {"prompt_tokens": 7, "completion_tokens": 3}
    model = inference.LLM("fake/fake-llm", extra_kwargs=usage)
    for _ in range(2):
        async with model.chat(chat_ctx=_chat_context()) as stream:
            async for _ in stream:
                pass
    records = gateway.records()
    assert [(r.input_tokens, r.output_tokens) for r in records] == [(7, 3), (7, 3)]
    assert records[0].call_id != records[1].call_id


async def test_a_failed_call_leaves_an_error_record(use_config):
    from livekit.agents import APIConnectOptions, APIStatusError

    gateway = use_config("{}")
    model = inference.LLM(
        "fake/fake-llm", extra_kwargs={"fail_with": APIStatusError("overloaded", status_code=529)}
    )
    stream = model.chat(chat_ctx=_chat_context(), conn_options=APIConnectOptions(max_retry=0))
    try:
        async for _ in stream:
            pass
    except APIStatusError:
        pass
    await stream.aclose()
    [record] = gateway.records()
    assert (record.status, record.error_class, record.output_tokens) == (
        "error",
        "APIStatusError",
        0,
    )


async def test_a_call_closed_before_any_report_is_recorded_as_cancelled(use_config):
    gateway = use_config("{}")
    model = inference.LLM("fake/fake-llm")
    stream = model.chat(chat_ctx=_chat_context())
    await stream.aclose()  # the agent was interrupted before the first token
    await asyncio.sleep(0)
    [record] = gateway.records()
    assert record.status == "cancelled"


async def test_stt_stream_records_each_usage_report(use_config):
    from voicegateway_testkit.audio import audio_frames, pcm_silence

    gateway = use_config("{}")
    ears = inference.STT("fake/fake-stt", extra_kwargs={"utterance_seconds": 0.5})
    stream = ears.stream()
    for frame in audio_frames(pcm_silence(1.0), sample_rate=16000):
        stream.push_frame(frame)
    stream.end_input()
    async for _ in stream:
        pass
    await stream.aclose()
    records = gateway.records()
    assert [r.audio_seconds for r in records] == [pytest.approx(0.5), pytest.approx(0.5)]
    assert len({r.call_id for r in records}) == 1


async def test_a_stream_the_plugin_fails_to_create_ends_its_call(use_config):
    """A plugin whose chat() raises before any stream exists: the call it opened still ends
    (an error record, nothing left in flight), and the error reaches the caller."""
    gateway = use_config("{}")
    model = inference.LLM("fake/fake-llm")
    with pytest.raises(TypeError):
        model.chat(chat_ctx=_chat_context(), no_such_option=True)
    [record] = gateway.records()
    assert (record.status, record.error_class) == ("error", "TypeError")
    assert model._built.instrument.in_flight == 0
