"""Finding voicegw.yaml, loading it, and applying profiles."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from voicegateway.config import Config, ConfigError, find_config_path, load_config


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


# --- find_config_path -----------------------------------------------------------------------


@pytest.fixture
def places(tmp_path):
    """A working directory and a home, both empty."""
    cwd, home = tmp_path / "work", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    return cwd, home


def test_nothing_found_is_none(places):
    cwd, home = places
    assert find_config_path(env={"HOME": str(home)}, cwd=cwd) is None


def test_explicit_path_comes_first(places):
    cwd, home = places
    explicit = write(cwd / "other.yaml", "")
    write(cwd / "voicegw.yaml", "")
    env = {"HOME": str(home), "VOICEGW_CONFIG": str(write(home / "env.yaml", ""))}
    assert find_config_path("other.yaml", env=env, cwd=cwd) == explicit


def test_explicit_path_must_exist(places):
    cwd, home = places
    with pytest.raises(ConfigError) as caught:
        find_config_path("missing.yaml", env={"HOME": str(home)}, cwd=cwd)
    assert str(cwd / "missing.yaml") in str(caught.value)
    assert "does not exist" in str(caught.value)


def test_explicit_directory_is_an_error(places):
    cwd, home = places
    with pytest.raises(ConfigError, match="is a directory"):
        find_config_path(cwd, env={"HOME": str(home)}, cwd=cwd)


def test_voicegw_config_variable_comes_before_the_working_directory(places):
    cwd, home = places
    named = write(home / "named.yaml", "")
    write(cwd / "voicegw.yaml", "")
    env = {"HOME": str(home), "VOICEGW_CONFIG": str(named)}
    assert find_config_path(env=env, cwd=cwd) == named


def test_voicegw_config_variable_must_name_a_file(places):
    cwd, home = places
    env = {"HOME": str(home), "VOICEGW_CONFIG": str(home / "gone.yaml")}
    with pytest.raises(ConfigError, match="VOICEGW_CONFIG"):
        find_config_path(env=env, cwd=cwd)


def test_working_directory_comes_before_the_user_config(places):
    cwd, home = places
    local = write(cwd / "voicegw.yaml", "")
    write(home / ".config" / "voicegateway" / "voicegw.yaml", "")
    assert find_config_path(env={"HOME": str(home)}, cwd=cwd) == local


def test_user_config_under_xdg_config_home(places, tmp_path):
    cwd, home = places
    user = write(tmp_path / "xdg" / "voicegateway" / "voicegw.yaml", "")
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert find_config_path(env=env, cwd=cwd) == user


def test_user_config_defaults_to_dot_config(places):
    cwd, home = places
    user = write(home / ".config" / "voicegateway" / "voicegw.yaml", "")
    assert find_config_path(env={"HOME": str(home)}, cwd=cwd) == user


# --- load_config ----------------------------------------------------------------------------


def test_no_file_gives_the_embedded_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(env={"HOME": str(tmp_path)})
    assert config == Config()
    assert config.source is None
    assert config.profile is None
    assert config.default_project == "default"


def test_source_is_the_file(tmp_path):
    path = write(tmp_path / "voicegw.yaml", "default_project: default\n")
    assert load_config(path, env={}).source == path


def test_load_uses_voicegw_config(tmp_path):
    path = write(tmp_path / "elsewhere.yaml", "models: {brain: openai/gpt-4o-mini}\n")
    config = load_config(env={"VOICEGW_CONFIG": str(path)})
    assert config.source == path
    assert config.models == {"brain": "openai/gpt-4o-mini"}


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n# and another\n", "---\n", "~\n"])
def test_empty_or_comment_only_file_is_the_default(tmp_path, text):
    path = write(tmp_path / "voicegw.yaml", text)
    assert load_config(path, env={}).model_dump() == Config().model_dump()


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "a list"), ("hello\n", "text")])
def test_top_level_must_be_a_mapping(tmp_path, text, kind):
    path = write(tmp_path / "voicegw.yaml", text)
    with pytest.raises(ConfigError, match=f"the top level must be a mapping.*got {kind}"):
        load_config(path, env={})


def test_yaml_anchors_and_merge_keys_work(tmp_path):
    path = write(
        tmp_path / "voicegw.yaml",
        """
        providers:
          openai: &common {base_url: "http://proxy/v1"}
          groq:
            <<: *common
            api_key: gk
        """,
    )
    config = load_config(path, env={})
    assert config.providers["groq"].base_url == "http://proxy/v1"
    assert config.providers["groq"].api_key.get_secret_value() == "gk"


def test_import_stays_light():
    code = (
        "import sys, voicegateway.config\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('livekit', 'pluggy', 'aiohttp')]\n"
        "others = [m for m in sys.modules if m.startswith('voicegateway.')\n"
        "          and not m.startswith(('voicegateway.config', 'voicegateway._version',\n"
        "                                'voicegateway.errors'))]\n"
        "print(heavy + others)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- profiles -------------------------------------------------------------------------------

PROFILED = """\
default_project: app
providers:
  openai: {api_key: sk-base, base_url: "http://base/v1"}
projects:
  app:
    budget: {daily_usd: 5, monthly_usd: 100, action: block}
models:
  listener: deepgram/nova-3
  brain: [openai/gpt-4o-mini, groq/llama-3.3-70b-versatile]
profiles:
  dev:
    providers:
      openai: {base_url: "http://localhost:8080/v1"}
    projects:
      app:
        budget: {daily_usd: 1}
    models:
      brain: [ollama/llama3.2]
  staging:
    models: {listener: deepgram/nova-2}
  broken:
    models: {voice: "${VOICE_MODEL}"}
"""


def test_without_a_profile_the_base_applies(tmp_path):
    config = load_config(write(tmp_path / "voicegw.yaml", PROFILED), env={})
    assert config.profile is None
    assert config.models["brain"] == ["openai/gpt-4o-mini", "groq/llama-3.3-70b-versatile"]


def test_profile_deep_merges_mappings_and_replaces_lists(tmp_path):
    path = write(tmp_path / "voicegw.yaml", PROFILED)
    config = load_config(path, profile="dev", env={})
    assert config.profile == "dev"
    openai = config.providers["openai"]
    assert openai.base_url == "http://localhost:8080/v1"
    assert openai.api_key.get_secret_value() == "sk-base"  # kept: mappings merge key by key
    budget = config.project("app").budget
    assert (budget.daily_usd, budget.monthly_usd, budget.action) == (1, 100, "block")
    assert config.models["brain"] == ["ollama/llama3.2"]  # lists replace
    assert config.models["listener"] == "deepgram/nova-3"


def test_profile_from_the_environment(tmp_path):
    path = write(tmp_path / "voicegw.yaml", PROFILED)
    config = load_config(path, env={"VOICEGW_PROFILE": "staging"})
    assert config.profile == "staging"
    assert config.models["listener"] == "deepgram/nova-2"


def test_profile_argument_wins_over_the_environment(tmp_path):
    path = write(tmp_path / "voicegw.yaml", PROFILED)
    config = load_config(path, profile="dev", env={"VOICEGW_PROFILE": "staging"})
    assert config.profile == "dev"
    assert config.models["listener"] == "deepgram/nova-3"


def test_profiles_are_kept_raw_and_inactive_ones_are_not_interpolated(tmp_path):
    config = load_config(write(tmp_path / "voicegw.yaml", PROFILED), profile="dev", env={})
    assert config.profiles["broken"] == {"models": {"voice": "${VOICE_MODEL}"}}
    assert config.profiles["dev"]["models"] == {"brain": ["ollama/llama3.2"]}


def test_active_profile_is_interpolated(tmp_path):
    path = write(tmp_path / "voicegw.yaml", PROFILED)
    with pytest.raises(ConfigError, match=r"22:21: profiles\.broken\.models\.voice: .*VOICE_MODEL"):
        load_config(path, profile="broken", env={})
    config = load_config(path, profile="broken", env={"VOICE_MODEL": "piper/en_US-joe-medium"})
    assert config.models["voice"] == "piper/en_US-joe-medium"


def test_unknown_profile_lists_the_available_ones(tmp_path):
    path = write(tmp_path / "voicegw.yaml", PROFILED)
    with pytest.raises(ConfigError) as caught:
        load_config(path, profile="stagin", env={})
    [issue] = caught.value.issues
    assert issue.path == "profiles"
    assert (issue.line, issue.column) == (10, 1)
    assert "unknown profile 'stagin'" in issue.message
    assert issue.hint == "did you mean 'staging'? (available: broken, dev, staging)"


def test_unknown_profile_from_the_environment_says_so(tmp_path):
    path = write(tmp_path / "voicegw.yaml", PROFILED)
    with pytest.raises(ConfigError, match=r"unknown profile 'prod' \(from VOICEGW_PROFILE\)"):
        load_config(path, env={"VOICEGW_PROFILE": "prod"})


def test_unknown_profile_without_profiles(tmp_path):
    path = write(tmp_path / "voicegw.yaml", "default_project: default\n")
    with pytest.raises(ConfigError, match="unknown profile 'dev'; this file defines none"):
        load_config(path, profile="dev", env={})


def test_profile_must_be_a_mapping(tmp_path):
    path = write(tmp_path / "voicegw.yaml", "profiles:\n  dev: [a]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, profile="dev", env={})
    [issue] = caught.value.issues
    assert (issue.path, issue.line, issue.message) == (
        "profiles.dev",
        2,
        "a profile must be a mapping, got a list",
    )


def test_profile_values_point_into_the_profile_block(tmp_path):
    path = write(tmp_path / "voicegw.yaml", PROFILED)
    config = load_config(path, profile="dev", env={})
    assert config.location(("models", "brain")) == (18, 7)
    assert config.location(("models", "listener")) == (8, 3)
    assert config.location(("providers", "openai", "base_url")) == (13, 16)
    assert config.location(("providers", "openai", "api_key")) == (3, 12)
    assert config.location(("nope",)) is None


def test_errors_in_profile_values_point_into_the_profile_block(tmp_path):
    text = PROFILED.replace("brain: [ollama/llama3.2]", "brain: [Ollama/llama3.2]")
    path = write(tmp_path / "voicegw.yaml", text)
    load_config(path, env={})  # the inactive profile is not validated
    with pytest.raises(ConfigError) as caught:
        load_config(path, profile="dev", env={})
    [issue] = caught.value.issues
    assert (issue.path, issue.line, issue.column) == ("profiles.dev.models.brain[0]", 18, 15)
    assert "'Ollama/llama3.2' is not a model string" in issue.message


def test_a_profile_replaces_fallbacks_whole(tmp_path):
    path = write(
        tmp_path / "voicegw.yaml",
        """\
        fallbacks: {llm: [openai/gpt-4o-mini], stt: [deepgram/nova-3]}
        projects:
          app: {fallbacks: {tts: [cartesia/sonic-3]}}
        default_project: app
        models: {brain: openai/gpt-4o}
        profiles:
          dev:
            fallbacks: {llm: [ollama/llama3.2]}
            projects: {app: {fallbacks: {}}}
          bare: {fallbacks: {}}
        """,
    )
    dev = load_config(path, profile="dev", env={})
    assert dev.fallbacks == {"llm": ["ollama/llama3.2"]}  # no stt left over from the base
    assert dev.project("app").fallbacks == {}
    assert load_config(path, profile="bare", env={}).fallbacks == {}
    assert load_config(path, env={}).fallbacks["stt"] == ["deepgram/nova-3"]
