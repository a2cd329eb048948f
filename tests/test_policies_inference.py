"""Budgets hold for real calls made through voicegateway.inference (the real openai plugin
against a local server): a ``block`` budget refuses new calls once spent, and resolution skips a
provider whose own budget is spent."""

from __future__ import annotations

from decimal import Decimal

import pytest
from livekit.agents import llm

from voicegateway import inference
from voicegateway.policies.errors import BudgetExceeded
from voicegateway_testkit.loop import measure_loop_gaps

from .conftest import DEEPGRAM_KEY, OPENAI_KEY


async def _chat(model: llm.LLM) -> None:
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="user", content="book a table")
    async with model.chat(chat_ctx=ctx) as stream:
        async for _ in stream:
            pass


async def test_block_budget_spends_to_its_limit_then_refuses_with_a_record(
    use_config, openai_server, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    # A negotiated rate makes each call cost $0.01401 (7 prompt tokens, 5 output tokens).
    openai_server.prompt_tokens, openai_server.completion_tokens = 7, 5
    gateway = use_config(f"""
        default_project: app
        providers:
          openai: {{base_url: "{openai_server.url}/v1"}}
        pricing:
          openai/gpt-4o-mini: {{input_mtok: 2000, output_mtok: 2}}
        projects:
          app:
            budget: {{daily_usd: 0.05, action: block}}
    """)
    model = inference.LLM("openai/gpt-4o-mini")
    admitted = 0
    with pytest.raises(BudgetExceeded, match=r"project 'app': the daily .* budget of \$0.05 "):
        for _ in range(10):
            await _chat(model)
            admitted += 1
    # three calls leave $0.00797: the fourth is admitted against what remains, not refused for
    # its estimate; only then is the spend at the limit
    assert admitted == 4
    records = gateway.records()
    served = [r for r in records if r.status == "ok"]
    assert len(served) == admitted == len(openai_server.requests_for("/v1/chat/completions"))
    spent = sum(r.cost_usd for r in served)
    assert Decimal("0.05") <= spent <= Decimal("0.05") + Decimal("0.01401")
    (refused,) = [r for r in records if r.status == "refused"]
    assert refused.error_class == "BudgetExceeded" and "budget of $0.05" in refused.reason
    assert refused.model == "gpt-4o-mini" and not refused.units() and not refused.cost_usd


async def test_resolution_skips_a_provider_whose_budget_is_spent(use_config, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    gateway = use_config("""
        default_project: app
        projects:
          app:
            budget: {monthly_usd: 100, providers: {openai: {daily_usd: 0}}, action: block}
        models:
          brain: [openai/gpt-4o-mini, fake/fake-llm]
    """)
    model = inference.LLM("brain")
    assert model.provider == "fake"
    assert "budget is spent" in dict(model._built.resolution.skipped)["openai/gpt-4o-mini"]
    await _chat(model)
    refused, served = gateway.records()  # the spent provider refuses, visibly; fake serves
    assert (refused.status, refused.provider, refused.error_class) == (
        "refused",
        "openai",
        "BudgetExceeded",
    )
    assert (served.provider, served.fallback_from) == ("fake", "openai/gpt-4o-mini")


async def test_a_throttled_project_is_served_by_its_cheaper_chain(use_config, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    gateway = use_config("""
        default_project: app
        projects:
          app:
            budget: {monthly_usd: 0, action: throttle, throttle_to: [fake/fake-llm]}
          relaxed:
            budget: {monthly_usd: 0, action: warn}
    """)
    model = inference.LLM("openai/gpt-4o-mini")
    assert model.provider == "fake"
    await _chat(model)
    [record] = gateway.records()
    assert (record.provider, record.fallback_from) == ("fake", "openai/gpt-4o-mini")
    # a warn budget only warns: the model asked for is the one that serves
    assert inference.LLM("openai/gpt-4o-mini", project="relaxed").provider == "openai"


async def test_waiting_for_a_rate_limit_does_not_stall_the_event_loop(use_config):
    """``on_limit: wait`` on an agent's event loop: the LLM's stream awaits its turn, and every
    other task of the loop (other conversations, audio) keeps running meanwhile."""
    import asyncio

    use_config("""
        rate_limits:
          fake: {requests: 5/s, on_limit: wait, max_wait: 5}
    """)
    model = inference.LLM("fake/fake-llm")
    _, longest_gap, took = await measure_loop_gaps(
        asyncio.gather(*(_chat(model) for _ in range(4)))
    )
    assert took >= 0.55  # four calls at 5/s: three waits of 0.2 s
    assert longest_gap < 0.11  # the loop was never blocked for a wait (10 ms ticks)


async def test_a_refusal_reaches_the_agent_session_error_event(
    use_config, openai_server, deepgram_server, lk_http, monkeypatch
):
    """The README's pattern, in a real AgentSession with the real Deepgram and OpenAI plugins:
    the first turn spends the LLM's budget; the second turn's refusal arrives as the session's
    non-recoverable ``error`` event, whose handler says a closing line through the TTS (whose
    provider still has budget)."""
    import asyncio

    from livekit.agents import Agent, AgentSession

    from voicegateway.policies import Refused
    from voicegateway_testkit.fakes import FakeAudioInput, FakeAudioOutput

    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("DEEPGRAM_API_KEY", DEEPGRAM_KEY)
    gateway = use_config(f"""
        default_project: app
        providers:
          openai: {{base_url: "{openai_server.url}/v1"}}
          deepgram: {{base_url: "{deepgram_server.url}/v1"}}
        projects:
          app:
            budget:
              monthly_usd: 100
              action: block
              providers: {{openai: {{daily_usd: 0.000001}}}}
    """)
    deepgram_server.transcript = "Book a table for two."
    session = AgentSession(
        stt=inference.STT("deepgram/nova-3"),
        llm=inference.LLM("openai/gpt-4o-mini"),
        tts=inference.TTS("deepgram/aura-2:andromeda-en"),
        vad=None,
        turn_handling={"turn_detection": "stt", "endpointing": {"min_delay": 0.0}},
    )
    errors = []

    @session.on("error")
    def on_error(event):
        errors.append(event)
        if isinstance(event.error.error, Refused):
            session.say("Sorry, I can't continue this call right now. Goodbye.")

    mic, speaker = FakeAudioInput(), FakeAudioOutput()
    session.input.audio, session.output.audio = mic, speaker
    await session.start(Agent(instructions="Take bookings."))
    try:
        for turn in (1, 2):  # the answer, then the closing line said by the error handler
            mic.push_seconds(1.2, frequency=220)
            async with asyncio.timeout(10):
                while len(speaker.segments) < turn:
                    await asyncio.sleep(0.02)
    finally:
        await session.aclose()
    [error] = errors
    assert error.error.recoverable is False and isinstance(error.error.error, Refused)
    assert "openai" in str(error.error.error) and "used up" in str(error.error.error)
    refused = [r for r in gateway.records() if r.status == "refused"]
    assert [(r.modality, r.provider, r.error_class) for r in refused] == [
        ("llm", "openai", "BudgetExceeded")
    ]


@pytest.mark.parametrize(
    "policy", ["", "projects: {app: {budget: {daily_usd: 1, action: block}}}\n"]
)
def test_policy_machinery_loads_only_when_the_config_sets_a_policy(tmp_path, policy):
    import os
    import subprocess
    import sys

    config = tmp_path / "voicegw.yaml"
    config.write_text(
        f"default_project: app\nstorage: {{path: {tmp_path / 'usage.duckdb'}}}\n"
        + (policy or "projects: {app: {}}\n")
    )
    code = (
        "import sys, threading\n"
        "from voicegateway import inference\n"
        "inference.LLM('openai/gpt-4o-mini')\n"
        "print('voicegateway.policy_state' in sys.modules, 'sqlite3' in sys.modules,\n"
        "      any(t.name == 'voicegateway-policies' for t in threading.enumerate()))\n"
    )
    env = {**os.environ, "VOICEGW_CONFIG": str(config), "OPENAI_API_KEY": OPENAI_KEY}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    loaded = "True True True" if policy else "False False False"
    assert done.stdout.split("\n")[-2] == loaded, done.stdout + done.stderr
