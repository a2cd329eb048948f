"""voicegateway.preload() imports the LiveKit plugins of every configured provider, so that the
first construction in an agent imports nothing. A fresh interpreter each, since a test process
has imported the plugins already."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import voicegateway

PROBE = """
import json, sys
import voicegateway
voicegateway.configure(sys.argv[1])
before = {m for m in sys.modules if m.startswith("livekit.plugins.")}
imported = voicegateway.preload()
after = {m for m in sys.modules if m.startswith("livekit.plugins.")}
print(json.dumps({"returned": imported, "new": sorted(after - before)}))
"""


def _preload(tmp_path, config: str) -> dict:
    path = tmp_path / "voicegw.yaml"
    path.write_text(textwrap.dedent(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEGW_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.slow
def test_preload_imports_every_configured_provider_not_only_those_models_name(tmp_path):
    # The README's setup: providers configured, models written in code, no models: section.
    found = _preload(
        tmp_path,
        """\
        providers:
          openai: {api_key: "${OPENAI_API_KEY}"}
        projects:
          app: {providers: {deepgram: {api_key: "${DG_KEY}"}}}
        default_project: app
        """,
    )
    assert {"livekit.plugins.openai", "livekit.plugins.deepgram"} <= set(found["returned"])
    assert {"livekit.plugins.openai", "livekit.plugins.deepgram"} <= set(found["new"])
    assert "livekit.plugins.cartesia" not in found["new"]  # not configured


def test_preload_with_nothing_configured_imports_every_installed_provider(use_config):
    """In this process (most plugins are imported by other tests anyway): what it returns."""
    gateway = use_config("default_project: app\n")
    assert gateway.configured_providers() == set()
    imported = voicegateway.preload()
    assert {"livekit.plugins.openai", "livekit.plugins.cartesia"} <= set(imported)
    assert all(name in sys.modules for name in imported)
