"""A provider distribution that is not part of this repository, installed beside it, shows up in
``voicegw providers`` with no change to the core; one whose requirements are missing is reported
as such without breaking the others."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN = textwrap.dedent("""
    from voicegateway.hookspecs import hookimpl
    from voicegateway.providers import ModelInfo, ProviderSpec

    VOICEGATEWAY_PLUGIN_API = 1

    def make_tts(request):
        raise NotImplementedError

    @hookimpl
    def register_providers(register):
        register(ProviderSpec(id="{pid}", tts=make_tts, key_env=("{env}",),
                              models=(ModelInfo("voice-1", "tts"),)))
""")


def _install(site: Path, dist: str, version: str, pid: str, requires: list[str] = ()) -> None:
    """Lay out an installed distribution the way pip does: its module and a .dist-info."""
    module = dist.replace("-", "_")
    (site / module).mkdir()
    (site / module / "__init__.py").write_text("")
    (site / module / "plugin.py").write_text(PLUGIN.format(pid=pid, env=f"{pid.upper()}_KEY"))
    info = site / f"{module}-{version}.dist-info"
    info.mkdir()
    reqs = "".join(f"Requires-Dist: {r}\n" for r in requires)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n{reqs}"
    )
    (info / "entry_points.txt").write_text(f"[voicegateway]\n{pid} = {module}.plugin\n")
    (info / "RECORD").write_text("")


def _providers(site: Path) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-m", "voicegateway.cli", "providers", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(out.stdout)


def test_third_party_provider_is_discovered(tmp_path):
    _install(tmp_path, "acme-voice", "0.3.0", "acme")
    rows = {row["id"]: row for row in _providers(tmp_path)}
    acme = rows["acme"]
    assert acme["status"] == "loaded"
    assert acme["distribution"] == "acme-voice"
    assert acme["version"] == "0.3.0"
    assert acme["modalities"] == ["tts"]
    assert acme["key_env"] == ["ACME_KEY"]
    assert rows["openai"]["status"] == "loaded"  # the others are unaffected


def test_missing_requirement_is_reported_before_import(tmp_path):
    _install(tmp_path, "needy-voice", "1.0.0", "needy", requires=["no-such-package-vg>=2"])
    rows = {row["id"]: row for row in _providers(tmp_path)}
    assert rows["needy"]["status"] == "failed"
    assert "no-such-package-vg>=2 (not installed)" in rows["needy"]["error"]
    assert rows["deepgram"]["status"] == "loaded"


def _job(site: Path, tmp_path: Path, code: str) -> subprocess.CompletedProcess:
    config = tmp_path / "voicegw.yaml"
    config.write_text(f"storage: {{path: {tmp_path / 'usage.duckdb'}}}\n")
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "VOICEGW_CONFIG": str(config),
        "OPENAI_API_KEY": "sk-test",
        "NEEDY_KEY": "k",
    }
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env
    )


@pytest.mark.slow
def test_a_job_checks_the_requirements_of_the_plugins_it_uses_only(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _install(site, "needy-voice", "1.0.0", "needy", requires=["no-such-package-vg>=2"])
    job = _job(
        site,
        tmp_path,
        """
        from voicegateway import plugins
        checked = []
        real = plugins._unmet_requirements
        plugins._unmet_requirements = lambda dist: checked.append(dist) or real(dist)
        from voicegateway import inference
        inference.LLM("openai/gpt-4o-mini")  # every plugin's middlewares are collected
        print(checked)
        try:
            inference.TTS("needy/voice-1")
        except Exception as exc:
            print(type(exc).__name__, " ".join(str(exc).split()))
        """,
    )
    assert job.returncode == 0, job.stderr
    checked, refused = job.stdout.strip().splitlines()[-2:]
    assert checked == "['voicegateway-openai']"
    assert refused.startswith("ProviderUnavailable")
    assert "no-such-package-vg>=2 (not installed)" in refused
