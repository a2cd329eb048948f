"""The README's install lines, run verbatim on a fresh copy of the checkout: a new virtual
environment gets this repository's distributions (built from their paths into wheels by pip)
with the openai and deepgram extras, every other dependency from the package index. Then the
README's quick-start lines and Python snippet run in that environment, which holds exactly
those two providers.

The unrelated ``voicegateway`` on PyPI (0.27.0, with its own ``voicegw``) must not be what got
installed: every ``voicegateway*`` distribution is this checkout's version (the core's
``_version.py``, which every pyproject reads) from a local path.

Slow (a few minutes: it installs LiveKit and its plugins), and it needs the index. Everything it
builds, installs or caches stays under the test's temporary directory; the large parts are
deleted at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from voicegateway import __version__

from .quick_start import EXTRAS, KEYS, REPO, quick_start, run_lines

CHECK_ORIGIN = """
import json, importlib.metadata as md
ours = [d for d in md.distributions() if d.metadata["Name"].startswith("voicegateway")]
url = lambda d: json.loads(d.read_text("direct_url.json") or "{}").get("url", "")
print(json.dumps({d.metadata["Name"]: [d.version, url(d)] for d in ours}))
"""


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the suite's default of 120 s is for ordinary tests
def test_the_readme_install_and_quick_start_lines_work_verbatim(tmp_path: Path) -> None:
    try:
        install_and_start(tmp_path)
    finally:  # hundreds of MB
        for heavy in ("checkout", "pip-cache", "cache"):
            shutil.rmtree(tmp_path / heavy, ignore_errors=True)


def install_and_start(tmp_path: Path) -> None:
    steps = quick_start()
    checkout = tmp_path / "checkout"
    shutil.copytree(
        REPO / "packages",
        checkout / "packages",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", ".venv"),
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "HATCH_ENV_ACTIVE")
        and not key.startswith("VOICEGW_")
        and not key.endswith("_API_KEY")
    }
    # off the hatch environment's PATH: the README's `python3` is the machine's
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if "/hatch/env/" not in p
    )
    env.update(
        PIP_CACHE_DIR=str(tmp_path / "pip-cache"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    run_lines(steps.install, cwd=checkout, env=env)
    venv = checkout / ".venv"

    origin = json.loads(
        subprocess.check_output([venv / "bin" / "python", "-c", CHECK_ORIGIN], env=env)
    )
    expected = {"voicegateway", "voicegateway-core", *(f"voicegateway-{e}" for e in EXTRAS)}
    assert set(origin) == expected, origin
    assert all(v == __version__ and url.startswith("file://") for v, url in origin.values()), origin

    agent = tmp_path / "my-agent"
    agent.mkdir()
    activate = f". {venv / 'bin' / 'activate'}\n"
    out = run_lines(steps.commands_with_keys(), cwd=agent, env=env, prefix=activate)
    assert "\nok" in out  # voicegw check passed
    listing = run_lines(["voicegw providers --json"], cwd=agent, env=env, prefix=activate)
    rows = {row["id"]: row for row in json.loads(listing)}
    assert set(rows) == set(EXTRAS), rows
    assert all(row["status"] == "loaded" and row["error"] is None for row in rows.values())

    snippet = (
        steps.snippet + "\nprint(session.stt.provider, session.llm.provider, session.tts.model)\n"
    )
    done = subprocess.run(
        [venv / "bin" / "python", "-c", snippet],
        cwd=agent,
        env={**env, **KEYS},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["deepgram", "openai", "aura-2"]
