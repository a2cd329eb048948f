"""The ``fake`` provider stays out of a user's ``voicegw providers`` unless asked for, and is found
by real discovery where it is (``voicegw`` run as a user runs it, in a subprocess)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

from voicegateway_testkit import provider
from voicegateway_testkit.fake_discovery import DISTRIBUTION, discoverable, write_distribution


def providers(cwd: Path, pythonpath: str | None) -> dict[str, dict]:
    """``voicegw providers --format json`` in ``cwd``, which holds a voicegw.yaml, with
    ``$PYTHONPATH`` set to ``pythonpath`` (None: unset, as in a user's shell)."""
    (cwd / "voicegw.yaml").write_text("default_project: app\nprojects: {app: {}}\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    done = subprocess.run(
        [sys.executable, "-m", "voicegateway.cli", "providers", "--format", "json"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return {row["id"]: row for row in json.loads(done.stdout)}


def test_installing_the_testkit_registers_no_provider():
    testkit = importlib.metadata.distribution("voicegateway-testkit")
    assert [ep.name for ep in testkit.entry_points if ep.group == "voicegateway"] == []
    assert [ep.name for ep in testkit.entry_points if ep.group == "pytest11"] == ["voicegateway"]


def test_voicegw_providers_lists_the_fake_only_when_asked(tmp_path: Path):
    user = providers(tmp_path, None)
    assert "fake" not in user
    assert "openai" in user  # the listing itself works: the installed providers are there

    asked = providers(tmp_path, str(write_distribution(tmp_path / "fake")))
    fake = asked["fake"]
    assert fake["modalities"] == ["stt", "llm", "tts"]
    assert (fake["distribution"], fake["status"]) == (DISTRIBUTION, "loaded")
    assert set(asked) - set(user) == {"fake"}


def test_discoverable_names_the_fake_plugin_until_the_block_ends():
    before = (list(sys.path), os.environ.get("PYTHONPATH"))
    with discoverable() as directory:
        assert sys.path[0] == str(directory)
        assert os.environ["PYTHONPATH"].split(os.pathsep)[0] == str(directory)
        [found] = importlib.metadata.distributions(path=[str(directory)])
        [entry_point] = [ep for ep in found.entry_points if ep.group == "voicegateway"]
        assert (entry_point.name, entry_point.load()) == ("fake", provider)
    assert (list(sys.path), os.environ.get("PYTHONPATH")) == before
    assert not directory.exists()
