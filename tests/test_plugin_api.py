"""Provider packages build on ``voicegateway.plugin_api`` alone, and importing it stays light.

The check reads every module of every provider distribution (``packages/voicegateway-*/src``, the
core and the testkit excepted, which are ours to couple) and fails on any import of a
``voicegateway`` module other than the public one: a provider that reaches into the core breaks
when the core moves its internals, as a third-party plugin would.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import voicegateway.plugin_api as vg

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = "voicegateway.plugin_api"
PROVIDERS = sorted(
    p.name.removeprefix("voicegateway-")
    for p in (ROOT / "packages").glob("voicegateway-*")
    if p.name not in ("voicegateway-core", "voicegateway-testkit")
)


def forbidden_imports(path: Path) -> list[str]:
    """``path:line: module`` for each import of ``voicegateway`` other than the public module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
            if node.module == "voicegateway":  # `from voicegateway import plugin_api` is fine
                modules = [f"voicegateway.{alias.name}" for alias in node.names]
        else:
            continue
        for module in modules:
            if module.split(".")[0] == "voicegateway" and module != PUBLIC:
                found.append((node.lineno, f"{path}:{node.lineno}: {module}"))
    return [line for _, line in sorted(found)]


def test_there_are_eleven_providers():
    assert len(PROVIDERS) == 11, PROVIDERS


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_provider_imports_only_the_public_module_from_the_core(provider):
    sources = sorted((ROOT / "packages" / f"voicegateway-{provider}" / "src").rglob("*.py"))
    assert sources
    assert [line for path in sources for line in forbidden_imports(path)] == []


def test_the_check_finds_an_import_of_anything_else(tmp_path):
    module = tmp_path / "plugin.py"
    module.write_text(
        "import voicegateway.plugin_api as vg\n"
        "from voicegateway.plugin_api import hookimpl\n"
        "from voicegateway import plugin_api\n"
        "import voicegateway_acme.stt\n"
        "from .usage_export import read\n"
        "def build():\n"
        "    from voicegateway.metering.instrument import report_usage\n"
        "from voicegateway import inference, plugin_api\n"
        "import voicegateway\n"
    )
    assert forbidden_imports(module) == [
        f"{module}:7: voicegateway.metering.instrument",
        f"{module}:8: voicegateway.inference",
        f"{module}:9: voicegateway",
    ]


def test_every_public_name_resolves_and_is_documented():
    assert len(vg.__all__) == len(set(vg.__all__))
    for name in vg.__all__:
        assert getattr(vg, name) is not None, name
    source = Path(vg.__file__).read_text()
    for name in vg.__all__[1:]:  # each listed with what it is for
        assert f'"{name}",  # ' in source, name
    assert vg.PLUGIN_API_VERSION == 1


def test_the_version_has_one_definition():
    from voicegateway import hookspecs, plugins

    assert not hasattr(hookspecs, "PLUGIN_API_VERSION")
    assert plugins.PLUGIN_API_VERSION is vg.PLUGIN_API_VERSION


def _imported_by(code: str) -> list[str]:
    probe = (
        "import sys, json; before = set(sys.modules); "
        f"{code}; print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_importing_the_public_module_imports_pluggy_and_the_light_core_only():
    new = _imported_by("import voicegateway.plugin_api")
    assert sorted(m for m in new if m.startswith("voicegateway")) == [
        "voicegateway",
        "voicegateway._lazy",
        "voicegateway._version",
        "voicegateway.errors",
        "voicegateway.hookspecs",
        "voicegateway.plugin_api",
        "voicegateway.providers",
        "voicegateway.records",
        "voicegateway.url_credentials",
    ]
    others = {m.split(".")[0] for m in new if not m.startswith("voicegateway")}
    assert others - set(sys.stdlib_module_names) == {"pluggy"}


def test_a_lazy_name_loads_its_module_on_first_use():
    new = _imported_by(
        "import voicegateway.plugin_api as vg; "
        "assert 'voicegateway.config.schema' not in sys.modules; vg.ProviderSettings"
    )
    assert "voicegateway.config.schema" in new
    assert "pydantic" in new


HEAVY = ("livekit", "duckdb", "aiohttp", "httpx", "openai", "anthropic", "numpy", "onnxruntime")
UNTIL_USED = ("voicegateway.reconcile", "voicegateway.metering.instrument", "voicegateway.ledger")
ENGINE_SETTINGS = {"whisper", "piper", "kokoro", "ollama"}  # a ProviderSettings subclass


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_hook_module_on_the_public_module_stays_light(provider):
    new = _imported_by(f"import voicegateway_{provider}.plugin")
    assert [m for m in new if m.split(".")[0] in HEAVY] == []
    assert not [m for m in new if m.startswith(UNTIL_USED)]
    if provider not in ENGINE_SETTINGS:
        assert "pydantic" not in new


def _documented_provider() -> str:
    text = (ROOT / "docs" / "writing-a-provider.md").read_text()
    section = text[text.index("## 9. The contract") :]
    return section[section.index("```python\n") + 10 : section.index("```\n", 1)]


def test_the_documented_provider_uses_the_public_module_only(tmp_path):
    source = tmp_path / "plugin.py"
    source.write_text(_documented_provider())
    assert forbidden_imports(source) == []
    module: dict = {}
    exec(compile(source.read_text(), str(source), "exec"), module)
    assert module["VOICEGATEWAY_PLUGIN_API"] == vg.PLUGIN_API_VERSION
    specs, readers = [], []
    module["register_providers"](specs.append)
    module["register_usage_readers"](readers.append)
    [spec] = specs
    assert (spec.id, spec.default_models, [m.name for m in spec.models]) == (
        "acme",
        {"stt": "ears-1"},
        ["ears-1"],
    )
    [reader] = readers
    assert reader.name == "acme-usage-json"
    record = vg.UsageRecord(
        call_id="c", modality="stt", provider="acme", model="ears-1", project="p"
    )
    metrics = type("Metrics", (), {"audio_duration": 0.25, "duration": 0.3})()
    assert spec.meters["stt"](metrics, record)
    assert record.audio_seconds == 1.0  # the minimum the example bills
