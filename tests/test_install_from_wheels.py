"""What a user gets from ``pip install 'voicegateway[deepgram,kokoro]'``: the workspace's wheels
(``hatch build --all``) installed into a fresh virtual environment, every other dependency from
the package index, and ``voicegw providers`` there lists exactly those two providers.

The top-level distribution is named by its wheel's path, not by name: an unrelated project
already publishes ``voicegateway`` 0.1.0 on PyPI, and pip may prefer the index's copy of the same
version. The rest resolves by name (``--find-links``), and the install report proves every
``voicegateway-*`` came from the wheels just built.

Slow (about three minutes: it installs LiveKit and ONNX Runtime), and it needs the index.
Everything it builds, installs or caches stays under the test's temporary directory, and the
large parts are deleted at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXTRAS = ("deepgram", "kokoro")


def entry_point_names() -> set[str]:
    """Every name in a ``voicegateway`` entry-point table of the workspace's distributions."""
    names: set[str] = set()
    for pyproject in REPO.glob("packages/*/pyproject.toml"):
        project = tomllib.loads(pyproject.read_text())["project"]
        names.update(project.get("entry-points", {}).get("voicegateway", {}))
    return names


def run(args: list[str | Path], env: dict[str, str], cwd: Path = REPO) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, f"{args[:3]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done.stdout


@pytest.mark.timeout(1800)  # the suite's default of 120 s is for ordinary tests
def test_extras_install_exactly_their_providers(tmp_path: Path) -> None:
    try:
        install_and_list(tmp_path)
    finally:  # hundreds of MB; the wheels and the install report stay for a post-mortem
        for heavy in ("venv", "hatch-data", "hatch-cache", "pip-cache", "uv-cache", "cache"):
            shutil.rmtree(tmp_path / heavy, ignore_errors=True)


def install_and_list(tmp_path: Path) -> None:
    hatch = shutil.which("hatch")
    assert hatch, "hatch is not on PATH (.ci/run installs it)"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "HATCH_ENV_ACTIVE")
    }
    env.update(
        HATCH_DATA_DIR=str(tmp_path / "hatch-data"),  # its build environments
        HATCH_CACHE_DIR=str(tmp_path / "hatch-cache"),
        PIP_CACHE_DIR=str(tmp_path / "pip-cache"),
        UV_CACHE_DIR=str(tmp_path / "uv-cache"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_DATA_HOME=str(tmp_path / "data"),
    )
    env.pop("VOICEGW_DISABLE_PLUGINS", None)

    wheels = tmp_path / "wheels"
    run([hatch, "build", "--all", "--target", "wheel", wheels], env)
    built = {p.name.split("-")[0] for p in wheels.glob("*.whl")}
    assert {"voicegateway", "voicegateway_core", "voicegateway_deepgram"} <= built, built

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], env, cwd=tmp_path)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    report = tmp_path / "install.json"
    [top] = wheels.glob("voicegateway-*.whl")
    requirement = f"voicegateway[{','.join(EXTRAS)}] @ {top.as_uri()}"
    pip = [bin_dir / "python", "-m", "pip"]
    run([*pip, "install", "--find-links", wheels, "--report", report, requirement], env, tmp_path)

    # the project's own distributions came from the wheels just built, not from the index
    installed = json.loads(report.read_text())["install"]
    ours = {
        item["metadata"]["name"]: item["download_info"]["url"]
        for item in installed
        if item["metadata"]["name"].startswith("voicegateway")
    }
    expected = {"voicegateway", "voicegateway-core", *(f"voicegateway-{e}" for e in EXTRAS)}
    assert set(ours) == expected, ours
    assert all(url.startswith(wheels.as_uri()) for url in ours.values()), ours

    listing = run([bin_dir / "voicegw", "providers", "--json"], env, tmp_path)
    rows = {row["id"]: row for row in json.loads(listing)}
    assert set(rows) == set(EXTRAS), rows
    for provider in EXTRAS:
        assert (rows[provider]["status"], rows[provider]["error"]) == ("loaded", None)
        assert rows[provider]["distribution"] == f"voicegateway-{provider}"
    others = entry_point_names() - set(EXTRAS)
    assert others and not others & set(rows)
