"""The models: projects, provider settings and their plugin subclasses, budgets, storage."""

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from voicegateway.config import (
    BudgetConfig,
    Config,
    ConfigError,
    ProjectConfig,
    ProviderSettings,
    Secret,
    StorageConfig,
    load_config,
)


def load(tmp_path: Path, text: str, **kwargs) -> Config:
    path = tmp_path / "voicegw.yaml"
    path.write_text(textwrap.dedent(text))
    return load_config(path, env=kwargs.pop("env", {}), **kwargs)


@pytest.mark.parametrize(
    "model", [Config, ProjectConfig, ProviderSettings, BudgetConfig, StorageConfig]
)
def test_every_model_forbids_unknown_keys(model):
    assert model.model_config["extra"] == "forbid"


def test_the_whole_shape_loads(tmp_path):
    config = load(
        tmp_path,
        """
        default_project: my-app
        providers:
          openai:   {api_key: "${OPENAI_API_KEY}", base_url: https://api.openai.com/v1}
          deepgram: {api_key: "${DEEPGRAM_API_KEY}"}
        projects:
          my-app:
            providers: {openai: {api_key: "${MY_APP_OPENAI_KEY}"}}
            budget: {daily_usd: 5.00, monthly_usd: 100, action: block}
        fallbacks:
          llm: [openai/gpt-4o-mini, groq/llama-3.3-70b-versatile, ollama/llama3.2]
        models:
          listener: deepgram/nova-3:en
          brain: [openai/gpt-4o-mini, groq/llama-3.3-70b-versatile]
          voice: cartesia/sonic-3
        storage: {path: ~/data/usage.duckdb}
        """,
    )
    assert config.default_project == "my-app"
    assert config.fallbacks["llm"][-1] == "ollama/llama3.2"
    assert config.models["listener"] == "deepgram/nova-3:en"
    assert config.storage.path == Path("~/data/usage.duckdb").expanduser()
    budget = config.project().budget
    assert budget.daily_usd == Decimal("5")
    assert isinstance(budget.daily_usd, Decimal)
    assert isinstance(budget.monthly_usd, Decimal)


# --- projects -------------------------------------------------------------------------------


def test_default_project_exists_implicitly_without_projects():
    config = Config()
    assert config.project() == ProjectConfig()
    assert config.project("default") == ProjectConfig()


def test_unknown_project_is_a_value_error_with_did_you_mean(tmp_path):
    config = load(tmp_path, "default_project: my-app\nprojects: {my-app: {}, other: {}}\n")
    with pytest.raises(ValueError, match=r"unknown project 'my-ap'; did you mean 'my-app'\?"):
        config.project("my-ap")
    with pytest.raises(ValueError, match="projects: my-app, other"):
        config.project("zzz")


def test_unknown_project_without_projects():
    with pytest.raises(ValueError, match="defines no projects"):
        Config().project("x")


def test_default_project_is_checked_in_code_too():
    with pytest.raises(ValidationError, match="names no project"):
        Config(default_project="x", projects={"y": ProjectConfig()})


# --- provider settings ----------------------------------------------------------------------

SETTINGS = """
default_project: app
providers:
  openai: {api_key: sk-global, base_url: "http://global/v1"}
  groq: {api_key: gk-global}
projects:
  app:
    providers:
      openai: {api_key: sk-app}
      deepgram: {api_key: dg-app}
  other: {}
"""


def test_project_settings_win_key_by_key(tmp_path):
    config = load(tmp_path, SETTINGS)
    openai = config.provider_settings("openai")
    assert openai.api_key.get_secret_value() == "sk-app"
    assert openai.base_url == "http://global/v1"
    assert config.provider_settings("openai", "other").api_key.get_secret_value() == "sk-global"


def test_settings_from_only_one_level(tmp_path):
    config = load(tmp_path, SETTINGS)
    assert config.provider_settings("groq").api_key.get_secret_value() == "gk-global"
    assert config.provider_settings("deepgram").api_key.get_secret_value() == "dg-app"


def test_unconfigured_provider_gets_empty_settings(tmp_path):
    settings = load(tmp_path, SETTINGS).provider_settings("cartesia")
    assert settings == ProviderSettings()
    assert (settings.api_key, settings.base_url) == (None, None)


def test_empty_provider_block_is_allowed(tmp_path):
    config = load(tmp_path, "providers:\n  ollama:\n")
    assert config.providers["ollama"] == ProviderSettings()


def test_provider_settings_for_an_unknown_project_raises(tmp_path):
    with pytest.raises(ValueError, match="unknown project"):
        load(tmp_path, SETTINGS).provider_settings("openai", "nope")


class WhisperSettings(ProviderSettings):
    model_path: str | None = None
    threads: int | None = None
    token: Secret | None = None


def settings_for(provider_id: str) -> type[ProviderSettings] | None:
    return WhisperSettings if provider_id == "whisper" else None


def test_plugin_settings_add_provider_specific_keys(tmp_path):
    config = load(
        tmp_path,
        """
        providers:
          whisper: {model_path: /models/tiny.en, threads: 4}
        projects:
          default:
            providers:
              whisper: {threads: 8}
        """,
        settings_for=settings_for,
    )
    assert isinstance(config.providers["whisper"], WhisperSettings)
    merged = config.provider_settings("whisper")
    assert isinstance(merged, WhisperSettings)
    assert (merged.model_path, merged.threads) == ("/models/tiny.en", 8)
    assert config.redacted()["providers"]["whisper"]["model_path"] == "/models/tiny.en"


def test_plugin_keys_are_unknown_for_other_providers(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(
            tmp_path,
            "providers:\n  openai: {model_path: x}\n  whisper: {model_pth: x}\n",
            settings_for=settings_for,
        )
    first, second = caught.value.issues
    assert (first.path, first.hint) == (
        "providers.openai.model_path",
        "allowed keys: api_key, base_url",
    )
    assert (second.path, second.hint) == (
        "providers.whisper.model_pth",
        "did you mean 'model_path'?",
    )


def test_plugin_secret_fields_are_lazy_too(tmp_path):
    config = load(
        tmp_path, "providers:\n  whisper: {token: '${HF_TOKEN}'}\n", settings_for=settings_for
    )
    assert [e.variable for e in config.missing_env()] == ["HF_TOKEN"]
    token = config.providers["whisper"].resolve({"HF_TOKEN": "hf-1"}).token
    assert token.get_secret_value() == "hf-1"


def test_unset_variable_in_a_typed_plugin_field_is_reported_at_load(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(
            tmp_path, "providers:\n  whisper: {threads: '${THREADS}'}\n", settings_for=settings_for
        )
    [issue] = caught.value.issues
    assert issue.path == "providers.whisper.threads"
    assert "THREADS is not set" in issue.message
    config = load(
        tmp_path, "providers:\n  whisper: {threads: '${THREADS:-2}'}\n", settings_for=settings_for
    )
    assert config.providers["whisper"].threads == 2


# --- budgets --------------------------------------------------------------------------------


def test_budget_money_is_decimal():
    budget = BudgetConfig(daily_usd=0.1, per_session_usd="0.25", action="warn")
    assert budget.daily_usd == Decimal("0.1")
    assert budget.per_session_usd == Decimal("0.25")


def test_budget_requires_action_and_a_limit():
    with pytest.raises(ValidationError, match="action"):
        BudgetConfig(daily_usd=1)
    with pytest.raises(ValidationError, match="at least one limit"):
        BudgetConfig(action="block")
    with pytest.raises(ValidationError):
        BudgetConfig(daily_usd=-1, action="block")


# --- storage --------------------------------------------------------------------------------


def test_storage_default_honours_xdg_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert StorageConfig().path == tmp_path / "voicegateway" / "usage.duckdb"
    assert Config().storage.path == tmp_path / "voicegateway" / "usage.duckdb"


def test_storage_default_without_xdg_data_home(monkeypatch):
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    expected = Path.home() / ".local" / "share" / "voicegateway" / "usage.duckdb"
    assert StorageConfig().path == expected


def test_storage_path_expands_home():
    assert StorageConfig(path="~/x.duckdb").path == Path.home() / "x.duckdb"


# --- redacted / location --------------------------------------------------------------------


def test_redacted_is_the_effective_config_as_plain_data(tmp_path):
    config = load(
        tmp_path,
        """
        providers:
          openai: {api_key: "${OPENAI_API_KEY}", base_url: "http://x/v1"}
          groq: {api_key: literal-key}
        projects:
          default: {budget: {daily_usd: 2.50, action: throttle}}
        models: {brain: [openai/gpt-4o-mini]}
        profiles:
          dev: {models: {brain: ollama/llama3.2}}
        """,
        profile="dev",
        env={"OPENAI_API_KEY": "sk-real"},
    )
    data = config.redacted()
    assert data["providers"]["openai"] == {
        "api_key": "${OPENAI_API_KEY}",
        "base_url": "http://x/v1",
    }
    assert data["providers"]["groq"]["api_key"] == "****"
    assert data["projects"]["default"]["budget"]["daily_usd"] == "2.5"
    assert data["models"] == {"brain": "ollama/llama3.2"}
    assert data["profiles"] == {"dev": {"models": {"brain": "ollama/llama3.2"}}}
    assert isinstance(data["storage"]["path"], str)


def test_location_is_one_based_line_and_column(tmp_path):
    config = load(
        tmp_path, "models:\n  brain: [a/b, c/d]\nproviders:\n  openai:\n    base_url: x\n"
    )
    assert config.location(("models",)) == (1, 1)
    assert config.location(("models", "brain")) == (2, 3)
    assert config.location(("models", "brain", 1)) == (2, 16)
    assert config.location(("providers", "openai", "base_url")) == (5, 5)
    assert Config().location(("models",)) is None
