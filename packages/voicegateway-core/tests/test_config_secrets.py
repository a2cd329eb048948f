"""A key's value never appears in a repr, an error message or printed config."""

import textwrap

import pytest
from pydantic import ValidationError

from voicegateway.config import (
    Config,
    ConfigError,
    MissingEnvError,
    ProviderSettings,
    Secret,
    load_config,
)

SENTINEL = "sk-SENTINEL-7f3a9c"


def load(tmp_path, text: str, **kwargs):
    path = tmp_path / "voicegw.yaml"
    path.write_text(textwrap.dedent(text).replace("SENTINEL", SENTINEL))
    return load_config(path, **kwargs)


def error_text(tmp_path, text: str, **kwargs) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, env=kwargs.pop("env", {}), **kwargs)
    return str(caught.value) + repr(caught.value) + "".join(map(repr, caught.value.issues))


def everything_printable(config: Config) -> str:
    settings = [config.provider_settings(pid) for pid in config.providers]
    return "".join(
        [
            repr(config),
            str(config),
            repr(config.redacted()),
            config.model_dump_json(),
            repr(config.model_dump()),
            *map(repr, settings),
            *(str(s.api_key) for s in settings if s.api_key),
        ]
    )


def test_literal_key_never_printed(tmp_path):
    config = load(
        tmp_path,
        """
        providers:
          openai: {api_key: SENTINEL}
        projects:
          default:
            providers:
              groq: {api_key: SENTINEL}
        """,
        env={},
    )
    assert config.providers["openai"].api_key.get_secret_value() == SENTINEL
    assert SENTINEL not in everything_printable(config)


def test_key_from_a_variable_never_printed(tmp_path):
    config = load(tmp_path, "providers:\n  openai: {api_key: '${KEY}'}\n", env={"KEY": SENTINEL})
    assert config.providers["openai"].api_key.get_secret_value() == SENTINEL
    assert SENTINEL not in everything_printable(config)
    assert config.redacted()["providers"]["openai"]["api_key"] == "${KEY}"


def test_default_of_a_key_variable_never_printed(tmp_path):
    config = load(tmp_path, "providers:\n  openai: {api_key: '${KEY:-SENTINEL}'}\n", env={})
    assert config.providers["openai"].api_key.get_secret_value() == SENTINEL
    assert SENTINEL not in everything_printable(config)
    assert config.providers["openai"].api_key.source == "${KEY:-****}"


def test_keys_in_profiles_are_masked_when_printed(tmp_path):
    config = load(
        tmp_path,
        """
        profiles:
          prod:
            providers: {openai: {api_key: SENTINEL, base_url: '${URL}'}}
            projects: {app: {providers: {groq: {api_key: SENTINEL}}}}
        """,
        env={},
    )
    redacted = config.redacted()
    assert SENTINEL not in repr(redacted)
    assert redacted["profiles"]["prod"]["providers"]["openai"] == {
        "api_key": "****",
        "base_url": "${URL}",
    }


@pytest.mark.parametrize(
    "text",
    [
        "providers:\n  openai: {api_key: [SENTINEL]}\n",
        "providers:\n  openai: {api_key: {SENTINEL: 1}}\n",
        "providers:\n  openai: {api_kye: SENTINEL}\n",
        "projects:\n  default:\n    providers:\n      openai: {api_key: 12345, extra: SENTINEL}\n",
        "providers:\n  openai: {api_key: SENTINEL, base_url: [x]}\n",
        "providers:\n  openai: {api_key: !!int SENTINEL}\n",
        "providers:\n  openai: {api_key: !!float SENTINEL}\n",
        "providers:\n  openai:\n    api_key: SENTINEL: oops\n",
        "providers:\n  openai: {api_key: SENTINEL\nmodels: [\n",
        "providers:\n  openai: SENTINEL\n",
        "providers:\n  openai: {api_key: SENTINEL}\nmodels: {brain: 5}\n",
        "providers:\n  whisper: {threads: SENTINEL}\n",
        "providers:\n  openai: {api_key: '${SENTINEL'}\n",
    ],
)
def test_bad_files_never_echo_a_key(tmp_path, text):
    class Plugin(ProviderSettings):
        threads: int | None = None

    text = error_text(tmp_path, text, settings_for=lambda pid: Plugin)
    assert SENTINEL not in text


def test_validation_errors_in_code_never_echo_a_key():
    for data in ({"api_key": [SENTINEL]}, {"api_key": SENTINEL, "nope": SENTINEL}):
        with pytest.raises(ValidationError) as caught:
            ProviderSettings.model_validate(data)
        assert SENTINEL not in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        Config.model_validate({"providers": {"openai": {"api_key": {SENTINEL: 1}}}})
    assert SENTINEL not in str(caught.value)


def test_missing_env_error_names_the_variable_not_a_value(tmp_path):
    config = load(
        tmp_path, "providers:\n  openai: {api_key: '${KEY}', base_url: SENTINEL}\n", env={}
    )
    [error] = config.missing_env()
    assert isinstance(error, MissingEnvError)
    assert SENTINEL not in str(error)


def test_secret_repr_and_str():
    secret = Secret(SENTINEL)
    assert SENTINEL not in repr(secret) + str(secret) + f"{secret}" + repr([secret])
