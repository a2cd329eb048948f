"""The README's quick start passes as written: ``voicegw init`` writes models that the quick
start's extras (openai, deepgram) serve, ``voicegw check`` passes with their keys set, and the
Python snippet builds its session. Here the other providers are disabled, as if not installed;
test_install_from_wheels runs the same lines in a fresh environment holding only those extras."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from .quick_start import EXTRAS, KEYS, REPO, quick_start, run_lines


def entry_points() -> set[str]:
    names: set[str] = set()
    for pyproject in REPO.glob("packages/*/pyproject.toml"):
        project = tomllib.loads(pyproject.read_text())["project"]
        names.update(project.get("entry-points", {}).get("voicegateway", {}))
    return names


@pytest.mark.slow
def test_the_quick_start_passes_with_only_its_extras(tmp_path: Path) -> None:
    steps = quick_start()
    assert steps.install[-1].startswith("pip install ") and all(
        f"./packages/voicegateway-{extra}" in steps.install[-1] for extra in EXTRAS
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env = {k: v for k, v in env.items() if not k.startswith("VOICEGW_")}
    env["VOICEGW_DISABLE_PLUGINS"] = ",".join(sorted(entry_points() - set(EXTRAS)))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"

    out = run_lines(steps.commands_with_keys(), cwd=tmp_path, env=env)  # check exits 0
    assert "\nok" in out
    written = yaml.safe_load((tmp_path / "voicegw.yaml").read_text())
    first = {
        alias: (entry if isinstance(entry, str) else entry[0]).split("/")[0]
        for alias, entry in written["models"].items()
    }
    assert first and set(first.values()) <= set(EXTRAS), first  # chains may go on elsewhere
    assert set(written["providers"]) - {"ollama"} <= set(EXTRAS)

    snippet = (
        steps.snippet + "\nprint(session.stt.provider, session.llm.provider, session.tts.model)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=tmp_path,
        env={**env, **KEYS},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["deepgram", "openai", "aura-2"]
