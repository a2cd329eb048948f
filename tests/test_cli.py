"""The voicegw command, run as a user runs it: a real subprocess, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SECRET = "sk-never-print-me-4242"


def voicegw(*args: str, cwd: Path, env: dict[str, str] | None = None):
    base = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    base.pop("VOICEGW_CONFIG", None)
    base.pop("VOICEGW_PROFILE", None)
    return subprocess.run(
        [sys.executable, "-m", "voicegateway.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
    )


def test_init_writes_a_starter_that_checks_and_refuses_to_overwrite(tmp_path):
    first = voicegw("init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    text = (tmp_path / "voicegw.yaml").read_text()
    assert "providers:" in text and "#" in text
    again = voicegw("init", cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr
    assert (tmp_path / "voicegw.yaml").read_text() == text
    assert voicegw("init", "--force", cwd=tmp_path).returncode == 0
    check = voicegw("check", cwd=tmp_path)
    assert "voicegw.yaml" in check.stdout  # found in the working directory


def test_check_reports_every_typo_with_line_and_suggestion(tmp_path):
    (tmp_path / "voicegw.yaml").write_text(
        textwrap.dedent("""\
        providers:
          openai: {api_kye: "${OPENAI_API_KEY}"}
        projects:
          app: {budget: {daily_usd: 5, action: maybe}}
        default_project: app
        modles: {}
    """)
    )
    result = voicegw("check", cwd=tmp_path)
    assert result.returncode == 2  # bad input
    assert "voicegw.yaml:2:12: providers.openai.api_kye: unknown key; did you mean 'api_key'?" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    assert "did you mean 'models'" in result.stderr
    assert "warn, throttle, block" in result.stderr


def test_check_shows_keys_set_or_missing_never_their_values(tmp_path):
    (tmp_path / "voicegw.yaml").write_text(
        textwrap.dedent("""\
        providers:
          openai: {api_key: "${OPENAI_API_KEY}"}
          deepgram: {api_key: "${DG_KEY}"}
        models:
          brain: openai/gpt-4o-mini
          ears: deepgram/nova-3
    """)
    )
    result = voicegw("check", cwd=tmp_path, env={"OPENAI_API_KEY": SECRET})
    out = result.stdout + result.stderr
    assert SECRET not in out
    assert "set (${OPENAI_API_KEY})" in out
    assert "missing: ${DG_KEY} is unset" in out
    assert "brain  -> openai/gpt-4o-mini (llm)" in out
    assert "model 'ears' cannot be served" in result.stderr
    assert result.returncode == 1  # 'ears' cannot be served without its key


def test_check_with_a_profile_prints_the_effective_config(tmp_path):
    (tmp_path / "voicegw.yaml").write_text(
        textwrap.dedent("""\
        models: {brain: openai/gpt-4o-mini}
        profiles:
          dev: {models: {brain: fake/fake-llm}}
    """)
    )
    result = voicegw("check", "--profile", "dev", "--verbose", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "profile: dev" in result.stdout
    assert "brain: fake/fake-llm" in result.stdout.split("effective config:")[1]
    unknown = voicegw("check", "--profile", "prod", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown profile 'prod'" in unknown.stderr


def test_providers_json_lists_each_provider_with_its_distribution(tmp_path):
    result = voicegw("providers", "--json", cwd=tmp_path)
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    for pid, modalities in (("openai", ["stt", "llm", "tts"]), ("deepgram", ["stt", "tts"])):
        row = rows[pid]
        assert row["modalities"] == modalities
        assert row["distribution"] == f"voicegateway-{pid}"
        assert row["version"] == "0.1.0"
        assert row["status"] == "loaded"
    table = voicegw("providers", cwd=tmp_path).stdout
    assert "deepgram" in table and "voicegateway-openai" in table


def test_cli_imports_no_provider_sdk(tmp_path):
    probe = (
        "import sys; from voicegateway.cli import main; main(['providers', '--json']); "
        "print('LOADED', [m for m in sys.modules if m.startswith(('livekit', 'openai'))])"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout
    assert "LOADED []" in out
