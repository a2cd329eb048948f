"""Run-time fallback: the real livekit.plugins.openai.LLM against the testkit's OpenAI server,
with faults injected, handing over to the `fake` provider; records, retries and the breaker."""

from __future__ import annotations

import asyncio
import logging

import pytest
from livekit.agents import Agent, AgentSession, llm
from livekit.plugins import openai as lk_openai

from voicegateway import inference
from voicegateway.policies import circuit

from .conftest import OPENAI_KEY

PATH = "/v1/chat/completions"
PRIMARY = "openai/gpt-4o-mini"


@pytest.fixture
def chain(use_config, openai_server, monkeypatch):
    """`brain` is the openai model (served by the local fake server), then the `fake` LLM."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    openai_server.reply = "From OpenAI."

    def configure(policy: str = "{}"):
        return use_config(f"""
            default_project: app
            providers:
              openai: {{base_url: "{openai_server.url}/v1"}}
            projects:
              app: {{}}
            models:
              brain: [{PRIMARY}, fake/fake-llm]
            fallback_policy: {policy}
        """)

    yield configure
    circuit.reset()


async def _ask(model: llm.LLM, text: str = "Hello there") -> str:
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content=text)
    parts = []
    async with model.chat(chat_ctx=ctx) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                parts.append(chunk.delta.content)
    await asyncio.sleep(0)
    return "".join(parts)


async def test_healthy_primary_serves_alone(chain, openai_server):
    gateway = chain()
    model = inference.LLM("brain")
    assert isinstance(model.plugin, lk_openai.LLM)
    assert (model.provider, model.model) == ("openai", "gpt-4o-mini")
    assert await _ask(model) == "From OpenAI."
    [record] = gateway.records()
    assert (record.provider, record.status, record.fallback_from) == ("openai", "ok", None)
    assert record.input_tokens > 0


async def test_a_500_hands_over_and_the_records_say_so(chain, openai_server):
    gateway = chain()
    openai_server.fault(PATH, status=500, times=1)
    model = inference.LLM("brain")

    reply = await _ask(model)

    assert reply == "Hello! How can I help you today?"  # the fake's reply
    failed, served = gateway.records()
    assert (failed.provider, failed.model, failed.status) == ("openai", "gpt-4o-mini", "fallback")
    assert failed.error_class == "APIStatusError"
    assert (served.provider, served.status, served.fallback_from) == ("fake", "ok", PRIMARY)
    assert served.input_tokens > 0 and served.output_tokens > 0
    assert failed.call_id != served.call_id
    # the wrapper reports who served the last call; .plugin stays the primary's
    assert (model.provider, model.model) == ("fake", "fake-llm")
    assert isinstance(model.plugin, lk_openai.LLM)
    # the next call goes to the primary again (one failure does not open the circuit)
    assert await _ask(model) == "From OpenAI."
    assert gateway.records()[-1].provider == "openai"
    assert gateway.records()[-1].fallback_from is None


async def test_a_stream_cut_before_any_text_hands_over(chain, openai_server):
    gateway = chain()
    openai_server.fault(PATH, drop_after=0, times=1)
    assert await _ask(inference.LLM("brain")) == "Hello! How can I help you today?"
    failed, served = gateway.records()
    assert failed.status == "fallback" and failed.error_class
    assert served.fallback_from == PRIMARY


async def test_a_stream_cut_mid_reply_is_not_handed_over_by_default(chain, openai_server):
    gateway = chain()
    openai_server.reply = "one two three four five six seven eight"
    openai_server.fault(PATH, drop_after=3, times=1)
    with pytest.raises(Exception):  # noqa: B017 - LiveKit's APIConnectionError family
        await _ask(inference.LLM("brain"))
    [record] = gateway.records()
    assert (record.provider, record.status) == ("openai", "error")


async def test_a_stream_cut_mid_reply_hands_over_when_allowed(chain, openai_server):
    gateway = chain("{retry_on_chunk_sent: true}")
    openai_server.reply = "one two three four five six seven eight"
    openai_server.fault(PATH, drop_after=3, times=1)
    reply = await _ask(inference.LLM("brain"))
    assert reply.endswith("Hello! How can I help you today?")
    failed, served = gateway.records()
    assert (failed.status, served.fallback_from) == ("fallback", PRIMARY)


async def test_a_bad_key_is_not_retried_on_the_same_provider(chain, openai_server):
    gateway = chain("{retries: 2}")
    openai_server.fault(PATH, status=401)
    assert await _ask(inference.LLM("brain")) == "Hello! How can I help you today?"
    assert len(openai_server.requests_for(PATH)) == 1
    failed, served = gateway.records()
    assert (failed.status, failed.error_class) == ("fallback", "APIStatusError")
    assert served.fallback_from == PRIMARY


async def test_a_5xx_is_retried_on_the_same_provider_first(chain, openai_server):
    gateway = chain("{retries: 1}")
    openai_server.fault(PATH, status=503, times=1)
    assert await _ask(inference.LLM("brain")) == "From OpenAI."
    assert len(openai_server.requests_for(PATH)) == 2
    failed, served = gateway.records()
    assert (failed.provider, failed.status) == ("openai", "fallback")
    assert (served.provider, served.status, served.fallback_from) == ("openai", "ok", None)


async def test_a_slow_first_byte_times_out_and_hands_over(chain, openai_server):
    gateway = chain("{attempt_timeout_s: 0.3}")
    openai_server.fault(PATH, delay=2.0, times=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await _ask(inference.LLM("brain")) == "Hello! How can I help you today?"
    assert loop.time() - started < 1.5
    failed, served = gateway.records()
    assert failed.status == "fallback" and "Timeout" in failed.error_class
    assert served.fallback_from == PRIMARY


async def test_every_candidate_failing_is_an_error(use_config, openai_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    gateway = use_config(f"""
        default_project: app
        providers:
          openai: {{base_url: "{openai_server.url}/v1"}}
        projects:
          app:
            fallbacks: {{llm: [openai/gpt-4.1-mini]}}
    """)
    openai_server.fault(PATH, status=500)
    model = inference.LLM(PRIMARY)
    errors = []
    model.on("error", errors.append)
    with pytest.raises(Exception, match="every LLM of the chain failed"):
        await _ask(model)
    first, last = gateway.records()
    assert (first.model, first.status) == ("gpt-4o-mini", "fallback")
    assert (last.model, last.status, last.fallback_from) == ("gpt-4.1-mini", "error", PRIMARY)
    assert len(errors) == 1  # one error for the agent, not one per attempt
    circuit.reset()


async def test_the_breaker_opens_skips_and_probes(chain, openai_server, caplog):
    caplog.set_level(logging.WARNING, "voicegateway")
    gateway = chain("{failures: 2, cooldown_s: 0.5}")
    openai_server.fault(PATH, status=500)
    model = inference.LLM("brain")
    for _ in range(2):
        await _ask(model)
    assert len(openai_server.requests_for(PATH)) == 2
    assert circuit.breaker("openai").state == "open"

    # run time: the open provider is skipped, no request reaches it
    await _ask(model)
    assert len(openai_server.requests_for(PATH)) == 2
    served = gateway.records()[-1]
    assert (served.provider, served.status, served.fallback_from) == ("fake", "ok", PRIMARY)

    # resolve time: a new object skips it too, and says why
    fresh = inference.LLM("brain")
    assert fresh.provider == "fake"
    assert "its circuit is open" in caplog.text
    assert isinstance(fresh.plugin, llm.LLM) and not isinstance(fresh.plugin, lk_openai.LLM)

    # after the cool-down one call probes the provider; it is recorded like any other call
    await asyncio.sleep(0.6)
    openai_server.clear_faults()
    count = len(gateway.records())
    assert await _ask(fresh) == "From OpenAI."
    assert len(openai_server.requests_for(PATH)) == 3
    [probe] = gateway.records()[count:]
    assert (probe.provider, probe.status) == ("openai", "ok")
    assert probe.input_tokens > 0 and probe.cost_usd is not None
    assert circuit.breaker("openai").state == "closed"


async def test_a_failed_probe_opens_the_circuit_again(chain, openai_server):
    gateway = chain("{failures: 1, cooldown_s: 0.3}")
    openai_server.fault(PATH, status=500)
    model = inference.LLM("brain")
    await _ask(model)
    assert circuit.breaker("openai").state == "open"
    await asyncio.sleep(0.35)
    await _ask(model)  # the probe fails, the fake serves
    assert len(openai_server.requests_for(PATH)) == 2
    assert circuit.breaker("openai").state == "open"
    assert [r.status for r in gateway.records()] == ["fallback", "ok", "fallback", "ok"]


async def test_agent_session_turn_with_a_failing_primary(chain, openai_server):
    gateway = chain()
    openai_server.fault(PATH, status=500, times=1)
    model = inference.LLM("brain")
    async with AgentSession(
        llm=model, vad=None, turn_handling={"turn_detection": "manual"}
    ) as session:
        await session.start(Agent(instructions="You are terse."))
        result = await session.run(user_input="Hello there")
        message = result.expect.next_event().is_message(role="assistant")
        assert message.event().item.text_content == "Hello! How can I help you today?"
        usage = session.usage.model_usage
    assert [(u.provider, u.model) for u in usage] == [("fake", "fake-llm")]
    failed, served = gateway.records()
    assert (failed.status, served.fallback_from) == ("fallback", PRIMARY)


def test_check_warns_about_a_fallback_provider_that_is_not_installed(tmp_path):
    """One of VoiceGateway's own providers that this machine lacks is a warning: a chain may name
    a provider installed only where a profile uses it, and resolution skips it."""
    from .test_cli import voicegw

    (tmp_path / "voicegw.yaml").write_text(
        "fallbacks: {llm: [fake/fake-llm, anthropic/claude-sonnet-4-6]}\n"
        "projects:\n  default: {fallbacks: {tts: [cartesia/sonic-3]}}\n"
    )
    disabled = {"VOICEGW_DISABLE_PLUGINS": "anthropic,cartesia"}
    result = voicegw("check", cwd=tmp_path, env=disabled)
    assert result.returncode == 0, result.stderr
    file_chain = result.stdout.split("\nfallbacks:\n")[1].split("\n\n")[0].splitlines()
    assert file_chain[0].startswith("  llm  fake/fake-llm: $0")
    assert file_chain[1].startswith(
        "  llm  anthropic/claude-sonnet-4-6: unavailable here (provider 'anthropic' is installed "
        "but its plugin failed to load: disabled"
    )
    project_chain = result.stdout.split("\nprojects.default.fallbacks:\n")[1].splitlines()
    assert project_chain[0].startswith("  tts  cartesia/sonic-3: unavailable here (provider")


def test_a_fallback_chain_naming_an_unknown_provider_is_an_error_at_load(tmp_path):
    from .test_cli import voicegw

    (tmp_path / "voicegw.yaml").write_text(
        "fallbacks: {llm: [fake/fake-llm, opeanai/gpt-4o-mini]}\n"
        "projects:\n  default: {fallbacks: {tts: [nosuch/voice]}}\n"
    )
    result = voicegw("check", cwd=tmp_path)
    assert result.returncode == 2  # bad input
    lines = result.stderr.splitlines()
    assert any(
        "voicegw.yaml:1:34: fallbacks.llm[1]: unknown provider 'opeanai'" in line
        and "did you mean 'openai'?" in line
        for line in lines
    ), result.stderr
    assert any("projects.default.fallbacks.tts[0]: unknown provider 'nosuch'" in ln for ln in lines)


async def test_a_refusal_at_admission_moves_on_without_counting_a_failure(
    use_config, openai_server, monkeypatch
):
    from voicegateway.metering.middleware import Middleware

    class Refuse(Middleware):
        def __init__(self) -> None:
            self.ended = []

        def on_call_start(self, call):
            if call.provider == "openai":
                raise RuntimeError("budget for openai is spent")

        def on_call_end(self, call):
            self.ended.append((call.provider, call.status, call.fallback_from))

    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    refuse = Refuse()
    use_config(
        f"""
        providers:
          openai: {{base_url: "{openai_server.url}/v1"}}
        models:
          brain: [{PRIMARY}, fake/fake-llm]
        fallback_policy: {{failures: 1}}
        """,
        middlewares=[refuse],
    )
    assert await _ask(inference.LLM("brain")) == "Hello! How can I help you today?"
    assert openai_server.requests_for(PATH) == []
    assert refuse.ended == [("fake", "ok", PRIMARY)]
    assert circuit.breaker("openai").state == "closed"

    refuse_all = inference.LLM("openai/gpt-4o-mini", fallback=["openai/gpt-4.1-mini"])
    with pytest.raises(RuntimeError, match="budget for openai is spent"):
        await _ask(refuse_all)
    circuit.reset()


async def test_a_plugin_raising_at_creation_hands_over(chain, openai_server, monkeypatch):
    gateway = chain()
    model = inference.LLM("brain")

    def broken_chat(**kwargs):
        raise ValueError("cannot build the request")

    monkeypatch.setattr(model.plugin, "chat", broken_chat)
    assert await _ask(model) == "Hello! How can I help you today?"
    failed, served = gateway.records()
    assert (failed.provider, failed.status, failed.error_class) == (
        "openai",
        "fallback",
        "ValueError",
    )
    assert served.fallback_from == PRIMARY
    assert openai_server.requests_for(PATH) == []


async def test_cancelling_a_call_records_the_attempt_cancelled(chain, openai_server):
    gateway = chain()
    openai_server.fault(PATH, delay=2.0, times=1)
    model = inference.LLM("brain")
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content="Hello there")
    stream = model.chat(chat_ctx=ctx)
    await asyncio.sleep(0.3)
    await stream.aclose()
    await asyncio.sleep(0.05)
    [record] = gateway.records()
    assert (record.provider, record.status) == ("openai", "cancelled")
    assert record.input_tokens > 0 and record.estimated  # the prompt is billed, estimated
    assert circuit.breaker("openai").state == "closed"


async def test_a_projects_fallback_policy_replaces_the_files(
    use_config, openai_server, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    use_config(f"""
        default_project: app
        providers:
          openai: {{base_url: "{openai_server.url}/v1"}}
        fallback_policy: {{failures: 5}}
        projects:
          app: {{}}
          strict: {{fallback_policy: {{failures: 1, cooldown_s: 60}}}}
        models:
          brain: [{PRIMARY}, fake/fake-llm]
    """)
    openai_server.fault(PATH, status=500)
    await _ask(inference.LLM("brain"))
    assert circuit.breaker("openai").state == "closed"
    await _ask(inference.LLM("brain", project="strict"))
    assert circuit.breaker("openai").state == "open"
    circuit.reset()
