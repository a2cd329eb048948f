"""The fakes report usage through LiveKit's own machinery and work inside a real AgentSession."""

from __future__ import annotations

import asyncio

import pytest
from livekit.agents import (
    Agent,
    AgentSession,
    APIConnectionError,
    APIConnectOptions,
    APIStatusError,
    llm,
    stt,
)
from livekit.agents.metrics import LLMMetrics, STTMetrics, TTSMetrics
from livekit.agents.metrics.usage import LLMModelUsage, STTModelUsage, TTSModelUsage

from voicegateway_testkit.audio import audio_frames, pcm_silence
from voicegateway_testkit.fakes import (
    FakeLLM,
    FakeSTT,
    FakeTTS,
    voice_turn,
)


def collect_metrics(plugin) -> list:
    received: list = []
    plugin.on("metrics_collected", received.append)
    return received


def chat_context(text: str) -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content=text)
    return ctx


async def settle() -> None:
    """Let a recognize stream's metrics task catch up: unlike the LLM and TTS streams, whose
    ``aclose()`` waits for theirs, ``RecognizeStream.aclose()`` cancels it."""
    await asyncio.sleep(0.05)


async def test_llm_streams_the_reply_and_reports_pinned_usage(no_retry: APIConnectOptions):
    fake = FakeLLM(
        reply="Sure, a table for two.", prompt_tokens=42, cached_tokens=10, completion_tokens=6
    )
    metrics = collect_metrics(fake)

    async with fake.chat(chat_ctx=chat_context("book a table"), conn_options=no_retry) as stream:
        chunks = [chunk async for chunk in stream]

    text = "".join(chunk.delta.content for chunk in chunks if chunk.delta and chunk.delta.content)
    assert text == "Sure, a table for two."
    assert chunks[-1].usage is not None and chunks[-1].delta is None
    [m] = metrics
    assert isinstance(m, LLMMetrics)
    assert (m.prompt_tokens, m.prompt_cached_tokens, m.completion_tokens) == (42, 10, 6)
    assert m.metadata.model_name == "fake-llm" and m.metadata.model_provider == "fake"


async def test_llm_counts_words_by_default_and_follows_its_script(no_retry: APIConnectOptions):
    fake = FakeLLM(reply=["First.", "Then the second one."], model="scripted")
    metrics = collect_metrics(fake)

    replies = []
    for _ in range(3):
        async with fake.chat(chat_ctx=chat_context("one two three"), conn_options=no_retry) as s:
            replies.append(await s.collect())

    assert [r.text for r in replies] == ["First.", "Then the second one.", "Then the second one."]
    assert [(m.prompt_tokens, m.completion_tokens) for m in metrics] == [(3, 1), (3, 4), (3, 4)]
    assert {m.metadata.model_name for m in metrics} == {"scripted"}
    assert len(fake.chat_contexts) == 3


async def test_stt_stream_finalizes_each_utterance_and_reports_its_audio(
    no_retry: APIConnectOptions,
):
    fake = FakeSTT(transcript=["book a table", "for two"], utterance_seconds=1.0)
    metrics = collect_metrics(fake)

    stream = fake.stream(conn_options=no_retry)
    for frame in audio_frames(pcm_silence(2.5)):
        stream.push_frame(frame)
    stream.end_input()
    events = [event async for event in stream]
    await settle()

    final = stt.SpeechEventType.FINAL_TRANSCRIPT
    finals = [e.alternatives[0].text for e in events if e.type == final]
    assert finals == ["book a table", "for two", "for two"]  # 1 s, 1 s, and 0.5 s on flush
    assert [e.type for e in events].count(stt.SpeechEventType.END_OF_SPEECH) == 3
    assert all(isinstance(m, STTMetrics) and m.streamed for m in metrics)
    assert [round(m.audio_duration, 3) for m in metrics] == [1.0, 1.0, 0.5]


async def test_stt_batch_recognize_is_metered_by_livekit(no_retry: APIConnectOptions):
    fake = FakeSTT(transcript=lambda seconds: f"{seconds:.1f} seconds", model="batch")
    metrics = collect_metrics(fake)

    event = await fake.recognize(audio_frames(pcm_silence(1.5)), conn_options=no_retry)

    assert event.alternatives[0].text == "1.5 seconds"
    [m] = metrics
    assert not m.streamed and m.audio_duration == pytest.approx(1.5)
    assert m.metadata.model_name == "batch"


async def test_tts_synthesize_pushes_audio_proportional_to_text(no_retry: APIConnectOptions):
    fake = FakeTTS(seconds_per_char=0.05)
    metrics = collect_metrics(fake)

    async with fake.synthesize("Hello world", conn_options=no_retry) as stream:
        frame = await stream.collect()

    assert frame.sample_rate == 24000
    assert frame.duration == pytest.approx(0.55, abs=0.011)
    [m] = metrics
    assert isinstance(m, TTSMetrics) and not m.streamed
    assert m.characters_count == len("Hello world")
    assert fake.texts == ["Hello world"]


async def test_tts_stream_reports_one_metric_per_segment(no_retry: APIConnectOptions):
    fake = FakeTTS(streaming=True)
    metrics = collect_metrics(fake)

    async with fake.stream(conn_options=no_retry) as stream:
        stream.push_text("Hello ")
        stream.push_text("there.")
        stream.end_input()
        audio = [ev async for ev in stream]

    assert audio[-1].is_final and len({ev.segment_id for ev in audio}) == 1
    assert sum(ev.frame.duration for ev in audio) == pytest.approx(0.6, abs=0.02)
    [m] = metrics
    assert m.streamed and m.characters_count == len("Hello there.")


async def test_tts_without_streaming_refuses_stream():
    with pytest.raises(NotImplementedError):
        FakeTTS().stream()


@pytest.mark.parametrize(
    "error",
    [APIStatusError("quota exceeded", status_code=429), APIConnectionError("unreachable")],
    ids=["status", "connection"],
)
async def test_fail_with_raises_from_every_fake(error: Exception, no_retry: APIConnectOptions):
    fakes = [FakeLLM(fail_with=error), FakeSTT(fail_with=error), FakeTTS(fail_with=error)]
    errors: list = []
    metrics: list = []
    for fake in fakes:
        fake.on("error", errors.append)
        fake.on("metrics_collected", metrics.append)

    with pytest.raises(type(error)):
        async with fakes[0].chat(chat_ctx=chat_context("hi"), conn_options=no_retry) as stream:
            await stream.collect()
    with pytest.raises(type(error)):
        await fakes[1].recognize(audio_frames(pcm_silence(0.2)), conn_options=no_retry)
    with pytest.raises(type(error)):
        async with fakes[2].synthesize("hi", conn_options=no_retry) as stream:
            await stream.collect()

    assert [e.error for e in errors] == [error, error, error]
    assert metrics == []


async def test_text_turn_in_agent_session():
    fake = FakeLLM(reply="We open at nine.", prompt_tokens=7, completion_tokens=4)
    async with AgentSession(llm=fake, vad=None, turn_handling={"turn_detection": "manual"}) as s:
        await s.start(Agent(instructions="You are a receptionist."))
        result = await s.run(user_input="When do you open?")

        result.expect.next_event().is_message(role="assistant")
        [usage] = s.usage.model_usage
    assert isinstance(usage, LLMModelUsage)
    assert (usage.provider, usage.model) == ("fake", "fake-llm")
    assert (usage.input_tokens, usage.output_tokens) == (7, 4)


async def test_voice_turn_in_agent_session_meters_stt_llm_and_tts():
    turn = await voice_turn(
        FakeSTT(transcript="What time is it?"),
        FakeLLM(reply="It is noon."),
        FakeTTS(),
        instructions="Tell the time.",
        timeout=5,
    )
    speaker, usage = turn.speaker, {type(u): u for u in turn.usage}

    # LiveKit's AudioEmitter adds a few 10 ms tail frames to what the TTS pushed
    assert speaker.segments[0].seconds == pytest.approx(len("It is noon.") * 0.05, abs=0.05)
    assert not speaker.segments[0].interrupted
    assert usage[STTModelUsage].audio_duration == pytest.approx(1.0)
    assert usage[LLMModelUsage].output_tokens == 3
    assert usage[TTSModelUsage].characters_count == len("It is noon.")


def test_package_root_re_exports_the_fakes_lazily():
    import voicegateway_testkit

    assert voicegateway_testkit.FakeLLM is FakeLLM
    with pytest.raises(AttributeError):
        _ = voicegateway_testkit.NoSuchThing
