"""The starter voicegw.yaml that ``voicegw init`` writes must load as it is."""

from importlib import resources

import pytest

from voicegateway.config import Secret, load_config
from voicegateway.config.loader import starter_yaml


@pytest.fixture
def starter(tmp_path):
    path = tmp_path / "voicegw.yaml"
    path.write_text(starter_yaml())
    return path


def test_starter_is_package_data():
    packaged = resources.files("voicegateway.config").joinpath("starter.yaml")
    assert packaged.read_text(encoding="utf-8") == starter_yaml()


def test_starter_loads_with_no_variables_set(starter):
    config = load_config(starter, env={})
    assert config.source == starter
    assert config.project().budget is not None
    assert any(isinstance(entry, list) for entry in config.models.values())
    assert config.fallbacks
    assert "dev" in config.profiles


def test_starter_keys_come_from_variables_and_are_lazy(starter):
    config = load_config(starter, env={})
    keyed = {pid: s.api_key for pid, s in config.providers.items() if s.api_key is not None}
    assert keyed
    assert all(isinstance(key, Secret) and key.source.startswith("${") for key in keyed.values())
    assert {e.variable for e in config.missing_env()} == {
        key.source.strip("${}") for key in keyed.values()
    }


def test_starter_dev_profile_uses_local_providers(starter):
    config = load_config(starter, profile="dev", env={})
    used = {
        model.split("/")[0]
        for entry in config.models.values()
        for model in ([entry] if isinstance(entry, str) else entry)
    }
    assert used.isdisjoint({"openai", "deepgram", "cartesia", "groq"})
    # nothing is handed over to a paid provider either: the profile's fallbacks replace the file's
    assert load_config(starter, env={}).fallbacks["llm"]
    assert config.fallbacks == {} and all(not p.fallbacks for p in config.projects.values())


def test_starter_explains_itself():
    text = starter_yaml()
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) >= 10
    for section in ("providers:", "projects:", "fallbacks:", "models:", "profiles:", "storage:"):
        before = text.split(f"\n{section}")[0].rstrip().splitlines()[-1]
        assert before.startswith("#"), f"{section} has no comment above it"
