"""``import voicegateway`` stays light: no LiveKit, SDK, DuckDB, YAML, pydantic or pluggy."""

import json
import subprocess
import sys

HEAVY = (
    "livekit",
    "openai",
    "deepgram",
    "anthropic",
    "duckdb",
    "pyarrow",
    "yaml",
    "pydantic",
    "pluggy",
    "aiohttp",
    "fastapi",
    "starlette",
    "httpx",
    "httpx2",
    "numpy",
)


def _modules_after(code: str) -> list[str]:
    probe = f"import sys; {code}; import json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_import_voicegateway_imports_nothing_heavy():
    loaded = _modules_after("import voicegateway")
    heavy = [m for m in loaded if m.split(".")[0] in HEAVY]
    assert heavy == []


def test_listing_plugins_imports_no_plugin_and_no_sdk():
    loaded = _modules_after("from voicegateway.plugins import PluginHost; PluginHost().plugins()")
    assert not [m for m in loaded if m.startswith(("voicegateway_", "livekit", "openai"))]


def test_loading_a_provider_plugin_imports_no_livekit_plugin():
    loaded = _modules_after(
        "from voicegateway.plugins import PluginHost; PluginHost().provider('openai')"
    )
    assert "voicegateway_openai.plugin" in loaded
    assert not [m for m in loaded if m.startswith(("livekit", "openai"))]
