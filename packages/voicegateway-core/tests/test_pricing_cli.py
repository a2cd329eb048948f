"""``voicegw prices``, run as a user runs it: a subprocess in a directory with a voicegw.yaml."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import voice_prices

VERSION = voice_prices.__version__

CONFIG = """
    default_project: app
    projects:
      app: {}
      acme: {}
    models:
      brain: [anthropic/claude-sonnet-4-6, openai/gpt-4o-mini]
      ears: deepgram/nova-3:en
    pricing:
      deepgram/nova-3: {audio_minute: 0.0036}
"""


def voicegw(*args: str, cwd: Path, config: str | None = CONFIG, **env: str):
    if config is not None:
        (cwd / "voicegw.yaml").write_text(textwrap.dedent(config))
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_API_KEY") and not k.startswith("VOICEGW_")
    }
    # anthropic is disabled, as if not installed: `brain` starts with a missing provider
    base.update(
        HOME=str(cwd), XDG_CACHE_HOME=str(cwd / "cache"), VOICEGW_DISABLE_PLUGINS="anthropic"
    )
    base.update(env)
    return subprocess.run(
        [sys.executable, "-m", "voicegateway.cli", "prices", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=base,
    )


def test_catalog_rates_of_a_model(tmp_path):
    out = voicegw("openai/gpt-4o-mini", cwd=tmp_path, config=None)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:3] == [
        "openai/gpt-4o-mini (llm, project default)",
        "  source: catalog",
        f"  detail: voice-prices {VERSION} openai/gpt-4o-mini",
    ]
    rows = [line.split(None, 2) for line in lines[6:]]
    assert rows == [
        ["input_mtok", "0.15", "1M input tokens (uncached text)"],
        ["cache_read_mtok", "0.075", "1M input tokens read from the cache"],
        ["output_mtok", "0.6", "1M output tokens (reasoning included)"],
    ]


def test_an_override_for_a_project_as_json(tmp_path):
    out = voicegw("deepgram/nova-3:en", "--project", "acme", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    [entry] = json.loads(out.stdout)
    assert entry == {
        "model": "deepgram/nova-3",
        "modality": "stt",
        "project": "acme",
        "source": "override",
        "detail": "pricing.deepgram/nova-3 in voicegw.yaml",
        "note": "",
        "serves": None,
        "varies": False,
        "rates": {
            "audio_minute": {
                "usd": "0.0036",
                "per": "minute of audio (STT heard, TTS produced)",
            }
        },
        "estimated": {},
    }


def test_an_alias_shows_each_model_of_its_chain_and_which_serves(tmp_path):
    out = voicegw("brain", "--json", cwd=tmp_path, OPENAI_API_KEY="sk-test-0123")
    assert out.returncode == 0, out.stderr
    missing, served = json.loads(out.stdout)
    assert (missing["model"], missing["source"], missing["serves"]) == (
        "anthropic/claude-sonnet-4-6",
        "catalog",
        False,
    )
    # what it would cost were it installed: the catalog's rates for the provider id
    assert missing["detail"] == f"voice-prices {VERSION} anthropic/claude-sonnet-4-6"
    assert "not installed" in missing["note"]
    assert (served["model"], served["source"], served["serves"]) == (
        "openai/gpt-4o-mini",
        "catalog",
        True,
    )
    text = voicegw("brain", cwd=tmp_path, OPENAI_API_KEY="sk-test-0123").stdout
    assert "openai/gpt-4o-mini (llm, project app, serves)" in text


def test_a_local_engine_and_a_modality_the_provider_does_not_list(tmp_path):
    local = voicegw("fake/fake-tts", cwd=tmp_path)
    assert "  source: local" in local.stdout and "  no rates: $0" in local.stdout
    unknown = voicegw("openai/gpt-4o-2024-08-06", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "add --modality" in unknown.stderr
    told = voicegw("openai/gpt-4o-2024-08-06", "--modality", "llm", cwd=tmp_path)
    assert f"detail: voice-prices {VERSION} openai/gpt-4o" in told.stdout


def test_a_token_billed_model_shows_the_vendors_estimate_apart(tmp_path):
    out = voicegw("openai/gpt-4o-transcribe", "--json", cwd=tmp_path)
    [entry] = json.loads(out.stdout)
    assert list(entry["rates"]) == ["input_mtok", "input_audio_mtok", "output_mtok"]
    assert entry["estimated"] == {
        "input_audio_kseconds": {
            "usd": "0.1",
            "per": "1,000 seconds of audio transcribed",
            # as OpenAI's price page quotes it (ProviderSpec.price_page_units)
            "quoted": {
                "unit": "audio_minute",
                "usd": "0.006",
                "per": "minute of audio (STT heard, TTS produced)",
            },
        }
    }
    text = voicegw("openai/gpt-4o-transcribe", cwd=tmp_path).stdout
    assert "the vendor's estimate, for records without tokens" in text


def test_mistakes_are_reported(tmp_path):
    project = voicegw("openai/gpt-4o-mini", "--project", "acm", cwd=tmp_path)
    assert project.returncode == 2 and "did you mean 'acme'?" in project.stderr
    nothing = voicegw(cwd=tmp_path)
    assert nothing.returncode == 2 and "--unpriced" in nothing.stderr
    bad = voicegw(
        "openai/gpt-4o-mini", cwd=tmp_path, config="pricing:\n  openai: {ouput_mtok: 1}\n"
    )
    assert bad.returncode == 2
    assert bad.stderr == (
        "voicegw prices: voicegw.yaml:2:12: pricing.openai.ouput_mtok: unknown key; "
        "did you mean 'output_mtok'?\n"
    )


def test_unpriced_lists_nothing_for_an_empty_ledger(tmp_path):
    config = CONFIG + f"    storage: {{path: {tmp_path / 'usage.duckdb'}}}\n"
    out = voicegw("--unpriced", "--json", cwd=tmp_path, config=config)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []


def test_unpriced_lists_the_models_that_ran_without_a_price(tmp_path):
    from voicegateway.ledger.spool import Spooler
    from voicegateway.records import UsageRecord

    db = tmp_path / "usage.duckdb"
    spool = Spooler(tmp_path / "usage.duckdb.spool")
    for _ in range(2):
        spool.append(
            UsageRecord(
                "c",
                "tts",
                "deepgram",
                "aura",
                "app",
                characters=12,
                price_source="unpriced",
                price_detail="not in the catalog",
            )
        )
    spool.append(
        UsageRecord(
            "d",
            "llm",
            "openai",
            "gpt-4o-mini",
            "app",
            input_tokens=3,
            cost_usd=Decimal("0.000001"),
            price_source="catalog",
        )
    )
    spool.close()
    config = CONFIG + f"    storage: {{path: {db}}}\n"
    out = voicegw("--unpriced", "--json", cwd=tmp_path, config=config)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [
        {
            "provider": "deepgram",
            "model": "aura",
            "modality": "tts",
            "requests": 2,
            "reason": "not in the catalog",
        }
    ]
