"""`voicegw check` and an agent resolve through one path, so they agree; check is a deploy gate
(exit 1 when something would fail at run time, 2 for a file that does not load) and short by
default. `voicegw check` runs as a user runs it, in a subprocess; the agent side is
`voicegateway.inference` against the testkit's fake OpenAI server."""

from __future__ import annotations

import pytest

from voicegateway import inference
from voicegateway.config import ConfigError, load_config
from voicegateway.config.loader import starter_yaml
from voicegateway.errors import ModelNotFound
from voicegateway_testkit.conformance import drive_llm, wait_ended

from .conftest import OPENAI_KEY
from .test_cli import voicegw


def _both(tmp_path, use_config, text: str, **env: str):
    """The same voicegw.yaml for `voicegw check` and for this process's gateway."""
    gateway = use_config(text)
    result = voicegw("check", cwd=tmp_path, env=env)
    return gateway, result


async def test_an_unlisted_model_is_served_and_both_say_unpriced(
    tmp_path, use_config, openai_server, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    gateway, result = _both(
        tmp_path,
        use_config,
        f"""
        providers:
          openai: {{base_url: "{openai_server.url}/v1"}}
        models:
          smart: openai/gpt-9
        """,
        OPENAI_API_KEY=OPENAI_KEY,
    )
    assert result.returncode == 0, result.stderr
    [line] = [ln for ln in result.stdout.splitlines() if ln.startswith("  smart")]
    assert "-> openai/gpt-9 (stt, llm or tts): UNPRICED" in line

    smart = inference.LLM("smart")
    assert (smart.provider, smart.model, smart._built.resolution.skipped) == ("openai", "gpt-9", ())
    await drive_llm(smart, "Hi")
    await wait_ended(smart)
    [record] = gateway.records()
    assert (record.model, record.price_source) == ("gpt-9", "unpriced")


def test_a_tts_model_in_an_llm_chain_is_the_same_error_in_both(tmp_path, use_config, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    _, result = _both(
        tmp_path,
        use_config,
        """
        models: {brain: openai/gpt-4o-mini}
        fallbacks: {llm: [openai/tts-1]}
        """,
        OPENAI_API_KEY=OPENAI_KEY,
    )
    message = "openai/tts-1 is a tts model of openai; it cannot serve llm"
    assert result.returncode == 1
    assert f"error: fallbacks.llm: {message}" in result.stderr.splitlines()
    with pytest.raises(ModelNotFound, match=message):
        inference.LLM("brain")
    with pytest.raises(ModelNotFound, match=message):
        inference.LLM("openai/tts-1")


def test_an_unknown_provider_is_the_same_error_in_both(tmp_path, use_config):
    _, result = _both(tmp_path, use_config, "models: {brain: opnai/gpt-4o-mini}\n")
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "voicegw.yaml:1:17: models.brain: unknown provider 'opnai'" in line
    assert "did you mean 'openai'?" in line and "Traceback" not in result.stderr
    with pytest.raises(ConfigError, match="did you mean 'openai'"):
        inference.LLM("brain")


def _starter(tmp_path) -> None:
    (tmp_path / "voicegw.yaml").write_text(
        starter_yaml().replace("~/.local/share", str(tmp_path / "data"))
    )


def test_check_shows_the_dev_profile_has_no_fallbacks(tmp_path):
    _starter(tmp_path)
    keys = {"OPENAI_API_KEY": OPENAI_KEY}
    base = voicegw("check", cwd=tmp_path, env=keys).stdout
    assert "\nfallbacks:\n  llm  openai/gpt-4o-mini: priced\n" in base
    dev = voicegw("check", "--profile", "dev", cwd=tmp_path, env=keys).stdout
    assert "\nfallbacks:\n  (none: a model that is unavailable is not handed over)\n" in dev
    [brain] = [line for line in dev.splitlines() if line.startswith("  brain ")]
    assert brain.endswith("-> ollama/llama3.2 (llm): $0, local engine")
    assert "openai/gpt-4o-mini" not in dev


def test_an_unset_variable_without_a_default_fails_the_gate(tmp_path):
    config = tmp_path / "voicegw.yaml"
    config.write_text('providers:\n  openai: {api_key: "${MY_OPENAI_KEY}"}\n')
    unset = voicegw("check", cwd=tmp_path)
    assert unset.returncode == 1
    assert unset.stderr.strip().splitlines() == [
        "error: voicegw.yaml:2: providers.openai.api_key: ${MY_OPENAI_KEY} is unset, with no "
        "default (export MY_OPENAI_KEY=...)"
    ]
    assert voicegw("check", cwd=tmp_path, env={"MY_OPENAI_KEY": "sk-x"}).returncode == 0
    config.write_text('providers:\n  openai: {api_key: "${MY_OPENAI_KEY:-sk-dev}"}\n')
    assert voicegw("check", cwd=tmp_path).returncode == 0


def test_check_is_short_each_problem_once_and_verbose_adds_the_effective_config(tmp_path):
    _starter(tmp_path)  # no key set: every cloud model and key is a problem
    short = voicegw("check", cwd=tmp_path)
    assert short.returncode == 1
    lines = (short.stdout + short.stderr).splitlines()
    assert len(lines) <= 40 and "effective config:" not in short.stdout
    errors = [line for line in short.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(set(errors))
    unset = {e.variable for e in load_config(tmp_path / "voicegw.yaml", env={}).missing_env()}
    assert unset
    for var in unset:
        assert sum(f"${{{var}}} is unset" in line for line in errors) == 1

    verbose = voicegw("check", "--verbose", cwd=tmp_path)
    assert verbose.returncode == 1
    assert verbose.stdout.startswith(short.stdout.removesuffix("\n"))
    effective = verbose.stdout.split("\neffective config:\n")[1]
    assert "default_project: my-app" in effective and "${OPENAI_API_KEY}" in effective
