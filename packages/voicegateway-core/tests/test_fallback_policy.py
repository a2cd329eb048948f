"""Fallback policy units: error classification, the circuit breaker, `fallback_policy:` config,
and resolve-time skipping of a provider whose circuit is open."""

from __future__ import annotations

import textwrap
import types
from pathlib import Path

import pytest
from livekit.agents import APIConnectionError, APIStatusError, APITimeoutError

from voicegateway.config import Config, ConfigError, load_config
from voicegateway.errors import ProviderUnavailable
from voicegateway.hookspecs import hookimpl
from voicegateway.plugins import PLUGIN_API_VERSION, PluginHost
from voicegateway.policies import circuit
from voicegateway.policies.circuit import BreakerPolicy, CircuitBreaker
from voicegateway.policies.fallback import NEXT, RETRY, FallbackSettings, classify, describe
from voicegateway.providers import ProviderSpec
from voicegateway.resolution import NOTHING_BLOCKED, Blocked, resolve


@pytest.mark.parametrize(
    ("error", "action"),
    [
        (APIStatusError("bad key", status_code=401), NEXT),
        (APIStatusError("forbidden", status_code=403), NEXT),
        (APIStatusError("no such model", status_code=404), NEXT),
        (APIStatusError("bad request", status_code=400), NEXT),
        (APIStatusError("slow down", status_code=429), RETRY),
        (APIStatusError("timeout", status_code=408), RETRY),
        (APIStatusError("boom", status_code=500), RETRY),
        (APIStatusError("unavailable", status_code=503), RETRY),
        (APITimeoutError(), RETRY),
        (APIConnectionError("reset"), RETRY),
        (TimeoutError(), RETRY),
        (ValueError("a bug"), NEXT),
    ],
)
def test_classify(error, action):
    assert classify(error) == action


def test_describe_names_the_status():
    assert describe(APIStatusError("x", status_code=401)) == "APIStatusError 401"
    assert describe(APITimeoutError()) == "APITimeoutError"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_n_failures_then_probes_once():
    clock = Clock()
    breaker = CircuitBreaker("openai", BreakerPolicy(failures=3, cooldown_s=30), clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.failure("APIStatusError 500")
    assert breaker.state == "closed" and breaker.blocked() is None
    breaker.failure("APIStatusError 500")
    assert breaker.state == "open" and not breaker.allow()
    assert "its circuit is open after 3 failures: APIStatusError 500" in breaker.blocked()
    clock.now += 29
    assert not breaker.allow()
    clock.now += 1
    assert breaker.state == "half_open" and breaker.blocked() is None
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one at a time
    assert "probe" in breaker.blocked()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow()


def test_a_failed_probe_reopens_for_a_full_cooldown():
    clock = Clock()
    breaker = CircuitBreaker("x", BreakerPolicy(failures=5, cooldown_s=10), clock=clock)
    for _ in range(5):
        breaker.failure()
    clock.now += 10
    assert breaker.allow()
    breaker.failure()
    assert breaker.state == "open"
    clock.now += 9
    assert breaker.state == "open"
    clock.now += 1
    assert breaker.allow()
    breaker.release()  # a cancelled probe: the next call may probe
    assert breaker.allow()


def test_a_success_resets_the_count_and_zero_disables():
    breaker = CircuitBreaker("x", BreakerPolicy(failures=2))
    breaker.failure()
    breaker.success()
    breaker.failure()
    assert breaker.state == "closed"
    off = CircuitBreaker("y", BreakerPolicy(failures=0))
    for _ in range(50):
        off.failure()
    assert off.allow()


def test_registry_is_per_provider_and_resettable():
    circuit.reset()
    try:
        assert circuit.blocked("openai") is None
        first = circuit.breaker("openai", BreakerPolicy(failures=1, cooldown_s=60))
        assert circuit.breaker("openai") is first
        first.failure("APITimeoutError")
        assert "circuit is open" in circuit.blocked("openai")
        assert circuit.blocked("deepgram") is None
    finally:
        circuit.reset()
    assert circuit.blocked("openai") is None


def _load(tmp_path: Path, text: str):
    path = tmp_path / "voicegw.yaml"
    path.write_text(textwrap.dedent(text))
    return load_config(path, env={})


def test_fallback_policy_config(tmp_path):
    config = _load(
        tmp_path,
        """
        fallback_policy: {failures: 5, cooldown_s: 10, attempt_timeout_s: 2, retries: 1}
        projects:
          default: {}
          strict:
            fallback_policy: {failures: 1}
        """,
    )
    top = FallbackSettings.from_config(config.fallback_policy)
    assert (top.breaker.failures, top.breaker.cooldown_s) == (5, 10)
    assert (top.attempt_timeout_s, top.retries, top.retry_on_chunk_sent) == (2, 1, False)
    assert config.project("default").fallback_policy is None
    strict = FallbackSettings.from_config(config.project("strict").fallback_policy)
    assert (strict.breaker.failures, strict.breaker.cooldown_s) == (1, 30)
    assert FallbackSettings.from_config(_load(tmp_path, "{}").fallback_policy) == FallbackSettings()


@pytest.mark.parametrize(
    "policy",
    ["{failures: -1}", "{attempt_timeout_s: 0}", "{cooldown_s: -5}", "{retrys: 1}"],
)
def test_bad_fallback_policy_is_a_load_error(tmp_path, policy):
    with pytest.raises(ConfigError, match="fallback_policy"):
        _load(tmp_path, f"fallback_policy: {policy}\n")


def test_a_fallback_chain_naming_a_malformed_provider_is_a_load_error(tmp_path):
    with pytest.raises(ConfigError, match="fallbacks"):
        _load(tmp_path, "fallbacks: {llm: ['Not A Provider/x']}\n")


def _host(*ids: str) -> PluginHost:
    """A plugin host with LLM providers ``ids`` registered (no entry points, no keys needed)."""
    module = types.ModuleType("resolution_test_plugin")
    module.VOICEGATEWAY_PLUGIN_API = PLUGIN_API_VERSION

    @hookimpl
    def register_providers(register):
        for pid in ids:
            register(ProviderSpec(id=pid, llm=lambda request: None))

    module.register_providers = register_providers
    host = PluginHost(discover=False)
    host.register(module)
    return host


def _resolve(texts, host, blocked=NOTHING_BLOCKED, **options):
    return resolve(
        "brain",
        "llm",
        texts,
        plugins=host,
        config=Config(),
        project="default",
        blocked=blocked,
        **options,
    )


def test_resolution_skips_an_open_circuit_and_keeps_it_for_later(caplog):
    host = _host("a", "b", "c")
    blocked = Blocked(
        circuit_open={"a": "its circuit is open after 3 failures; probed again in 20s"}
    )
    found = _resolve(["a/m1", "b/m2", "c/m3"], host, blocked, alternates=True)
    assert str(found.ref) == "b/m2"
    assert found.skipped == (("a/m1", blocked.circuit_open["a"]),)
    assert found.fallback_from == "a/m1"
    assert [str(r.ref) for r in found.preceding] == ["a/m1"]
    assert [str(r.ref) for r in found.alternates] == ["c/m3"]
    assert "its circuit is open" in caplog.text
    # without alternates, nothing else is kept
    plain = _resolve(["a/m1", "b/m2", "c/m3"], host, blocked)
    assert (plain.preceding, plain.alternates) == ((), ())


def test_a_spent_budget_is_its_own_reason_and_an_open_circuit_comes_first():
    host = _host("a", "b", "c")
    blocked = Blocked(
        circuit_open={"a": "its circuit is open"},
        budget_spent={"a": "its budget is spent: a", "b": "its budget is spent: b"},
    )
    found = _resolve(["a/m1", "b/m2", "c/m3"], host, blocked)
    assert str(found.ref) == "c/m3"
    assert found.skipped == (("a/m1", "its circuit is open"), ("b/m2", "its budget is spent: b"))
    assert (blocked.why("a"), blocked.why("b"), blocked.why("c")) == (
        "its circuit is open",
        "its budget is spent: b",
        None,
    )


def test_resolution_with_every_circuit_open_uses_the_first_anyway(caplog):
    host = _host("a", "b")
    every = Blocked(circuit_open={"a": "its circuit is open", "b": "its circuit is open"})
    found = _resolve(["nope/x", "a/m1", "b/m2"], host, every, alternates=True)
    assert str(found.ref) == "a/m1"
    assert found.fallback_from == "nope/x"
    assert [str(r.ref) for r in found.alternates] == ["b/m2"]
    assert "every usable candidate's circuit is open; using a/m1 anyway" in caplog.text


def test_resolution_with_nothing_usable_still_raises():
    with pytest.raises(ProviderUnavailable, match="nope/x: no provider 'nope'"):
        _resolve(["nope/x"], _host(), Blocked(circuit_open={"nope": "its circuit is open"}))
