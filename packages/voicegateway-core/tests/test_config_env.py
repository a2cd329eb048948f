"""${VAR} interpolation, lazy provider keys, and the Secret type."""

import copy
import pickle
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from voicegateway.config import ConfigError, MissingEnvError, Secret, load_config
from voicegateway.config.env import EnvText, mask_template, substitute


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "voicegw.yaml"
    path.write_text(textwrap.dedent(text))
    return path


# --- substitute -----------------------------------------------------------------------------


def test_substitute_plain_reference():
    assert substitute("${KEY}", {"KEY": "v"}) == ("v", [])


def test_substitute_default_when_unset_or_empty():
    assert substitute("${KEY:-d}", {}) == ("d", [])
    assert substitute("${KEY:-d}", {"KEY": ""}) == ("d", [])
    assert substitute("${KEY:-}", {}) == ("", [])


def test_substitute_inside_longer_text():
    text = "http://${HOST:-localhost}:${PORT}/v1"
    assert substitute(text, {"PORT": "8080"}) == ("http://localhost:8080/v1", [])


def test_substitute_escape_is_a_literal_dollar_brace():
    assert substitute("$${KEY} and ${KEY}", {"KEY": "v"}) == ("${KEY} and v", [])


def test_substitute_leaves_other_dollars_alone():
    assert substitute("$5 and $HOME", {}) == ("$5 and $HOME", [])


def test_substitute_reports_every_unset_variable():
    _, missing = substitute("${A}-${B}-${C:-c}", {})
    assert missing == ["A", "B"]


def test_empty_variable_counts_as_unset():
    assert substitute("${KEY}", {"KEY": ""})[1] == ["KEY"]


@pytest.mark.parametrize("text", ["${KEY", "${}", "${1X}", "${KEY-d}", "${A B}"])
def test_substitute_rejects_malformed_references(text):
    with pytest.raises(ValueError, match="malformed"):
        substitute(text, {})


def test_mask_template_keeps_references_and_masks_literals():
    assert mask_template("${OPENAI_API_KEY}") == "${OPENAI_API_KEY}"
    assert mask_template("sk-abc") == "****"
    assert mask_template("${KEY:-sk-default}") == "${KEY:-****}"
    assert mask_template("Bearer ${TOKEN}") == "****${TOKEN}"


# --- in a file ------------------------------------------------------------------------------


def test_interpolation_happens_in_any_string(tmp_path):
    path = write(
        tmp_path,
        """
        providers:
          ollama: {base_url: "http://${HOST:-localhost}:11434/v1"}
        models:
          brain: ${BRAIN}
        storage: {path: "${DATA}/usage.duckdb"}
        """,
    )
    config = load_config(path, env={"BRAIN": "ollama/llama3.2", "DATA": "/srv"})
    assert config.providers["ollama"].base_url == "http://localhost:11434/v1"
    assert type(config.providers["ollama"].base_url) is str
    assert config.models["brain"] == "ollama/llama3.2"
    assert config.storage.path == Path("/srv/usage.duckdb")


def test_interpolated_values_are_validated_by_type(tmp_path):
    path = write(
        tmp_path,
        """
        projects:
          default:
            budget: {daily_usd: "${BUDGET:-5}", monthly_usd: "${MONTHLY}", action: block}
        """,
    )
    budget = load_config(path, env={"MONTHLY": "100.50"}).project().budget
    assert budget.daily_usd == Decimal("5")
    assert budget.monthly_usd == Decimal("100.50")


def test_unset_variable_outside_provider_settings_is_a_load_error(tmp_path):
    path = write(
        tmp_path,
        """
        models:
          brain: ${BRAIN_MODEL}
        storage:
          path: ${USAGE_DB}
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    issues = caught.value.issues
    assert [(i.path, i.line) for i in issues] == [("models.brain", 3), ("storage.path", 5)]
    assert "BRAIN_MODEL is not set" in issues[0].message
    assert "${BRAIN_MODEL:-default}" in issues[0].hint
    assert "USAGE_DB" in issues[1].message


def test_a_failed_reference_is_reported_once(tmp_path):
    path = write(tmp_path, "projects: {default: {budget: {daily_usd: '${NOPE}', action: warn}}}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert len(caught.value.issues) == 1


def test_malformed_reference_is_a_load_error(tmp_path):
    path = write(tmp_path, "models:\n  brain: ${BRAIN\n")
    with pytest.raises(ConfigError, match=r"2:10: models.brain: malformed variable reference"):
        load_config(path, env={})


def test_escaped_reference_is_kept_literally(tmp_path):
    path = write(tmp_path, "providers:\n  acme: {base_url: 'https://x/$${path}'}\n")
    assert load_config(path, env={}).providers["acme"].base_url == "https://x/${path}"


# --- lazy provider settings -----------------------------------------------------------------

LAZY = """
default_project: app
providers:
  openai:
    api_key: ${OPENAI_API_KEY}
    base_url: ${OPENAI_BASE_URL}
projects:
  app:
    providers:
      deepgram:
        api_key: ${APP_DEEPGRAM_KEY}
"""


def test_unset_provider_keys_do_not_fail_the_load(tmp_path):
    config = load_config(write(tmp_path, LAZY), env={})
    assert config.providers["openai"].api_key.is_set is False


def test_missing_env_lists_every_unset_provider_variable(tmp_path):
    path = write(tmp_path, LAZY)
    missing = load_config(path, env={}).missing_env()
    found = [(e.variable, e.path, e.file, e.line) for e in missing]
    assert found == [
        ("OPENAI_API_KEY", "providers.openai.api_key", path, 5),
        ("OPENAI_BASE_URL", "providers.openai.base_url", path, 6),
        ("APP_DEEPGRAM_KEY", "projects.app.providers.deepgram.api_key", path, 11),
    ]


def test_resolve_raises_naming_variable_key_and_line(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    path = write(tmp_path, LAZY)
    settings = load_config(path, env={"OPENAI_BASE_URL": "http://x"}).provider_settings("openai")
    with pytest.raises(MissingEnvError) as caught:
        settings.resolve()
    error = caught.value
    assert (error.variable, error.path, error.file, error.line) == (
        "OPENAI_API_KEY",
        "providers.openai.api_key",
        path,
        5,
    )
    assert f"{path}:5" in str(error)
    assert "export OPENAI_API_KEY" in str(error)
    assert "${OPENAI_API_KEY:-default}" in str(error)


def test_resolve_reads_the_environment_again(tmp_path, monkeypatch):
    config = load_config(write(tmp_path, LAZY), env={})
    monkeypatch.setenv("OPENAI_API_KEY", "sk-late")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://late/v1")
    resolved = config.provider_settings("openai").resolve()
    assert resolved.api_key.get_secret_value() == "sk-late"
    assert resolved.api_key.source == "${OPENAI_API_KEY}"
    assert resolved.base_url == "http://late/v1"
    assert resolved.missing_env() == []


def test_resolve_accepts_an_explicit_environment(tmp_path):
    settings = load_config(write(tmp_path, LAZY), env={}).provider_settings("openai")
    env = {"OPENAI_API_KEY": "sk-1", "OPENAI_BASE_URL": "http://b"}
    assert settings.resolve(env).api_key.get_secret_value() == "sk-1"


def test_secret_value_raises_while_its_variable_is_unset(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    secret = load_config(write(tmp_path, LAZY), env={}).providers["openai"].api_key
    with pytest.raises(MissingEnvError, match=r"providers\.openai\.api_key needs .*OPENAI_API_KEY"):
        secret.get_secret_value()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-now")
    assert secret.is_set
    assert secret.get_secret_value() == "sk-now"


def test_unset_value_is_never_an_empty_string(tmp_path):
    settings = load_config(write(tmp_path, LAZY), env={}).providers["openai"]
    assert settings.base_url == "${OPENAI_BASE_URL}"


def test_set_variables_resolve_at_load(tmp_path):
    env = {"OPENAI_API_KEY": "sk-a", "OPENAI_BASE_URL": "http://b", "APP_DEEPGRAM_KEY": "dg"}
    config = load_config(write(tmp_path, LAZY), env=env)
    assert config.missing_env() == []
    assert config.providers["openai"].api_key.get_secret_value() == "sk-a"
    assert config.provider_settings("deepgram").api_key.get_secret_value() == "dg"


def test_config_with_pending_values_survives_copy_and_pickle(tmp_path):
    config = load_config(write(tmp_path, LAZY), env={})
    for clone in (copy.deepcopy(config), pickle.loads(pickle.dumps(config))):
        assert [e.variable for e in clone.missing_env()] == [
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "APP_DEEPGRAM_KEY",
        ]


# --- Secret ---------------------------------------------------------------------------------


def test_literal_secret():
    secret = Secret("sk-literal")
    assert secret.get_secret_value() == "sk-literal"
    assert secret.source == "literal"
    assert secret.is_set
    assert repr(secret) == "Secret(****)"
    assert str(secret) == "****"
    assert not isinstance(secret, str)


def test_secret_from_a_variable_shows_its_source():
    secret = Secret(EnvText("sk-v", "${OPENAI_API_KEY}"))
    assert secret.get_secret_value() == "sk-v"
    assert secret.source == "${OPENAI_API_KEY}"
    assert repr(secret) == "Secret(${OPENAI_API_KEY})"
    assert "sk-v" not in repr(secret) + str(secret)


def test_secret_equality_is_by_value():
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert len({Secret("a"), Secret("a")}) == 1


def test_env_text_repr_hides_the_value():
    assert "sk-v" not in repr(EnvText("sk-v", "${KEY}"))
