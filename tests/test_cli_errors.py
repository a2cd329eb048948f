"""One error path for the whole CLI: a broken voicegw.yaml, an unknown flag or a bad value is one
line per problem and exit status 2, never a traceback; every command's ``--help`` says what it
does and shows an example."""

from __future__ import annotations

import pytest

from voicegateway.cli import build_parser

from .conftest import voicegw


def commands() -> dict[str, object]:
    parser = build_parser()
    [sub] = [a for a in parser._actions if a.dest == "command"]
    return dict(sub.choices)


BROKEN = "projects:\n  app: {budget: {daily_usd: lots, action: warn}}\ndefault_project: app\n"
ARGS = {
    "prices": ["openai/gpt-4o-mini"],
    "export": ["out.csv"],
    "reconcile": ["usage.csv"],
}


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_with_a_broken_config_is_one_line_and_exit_2(tmp_path, name):
    (tmp_path / "bad.yaml").write_text(BROKEN)
    # the testkit's fake provider's usage export, so reconcile gets as far as the config
    (tmp_path / "usage.csv").write_text(
        "date,fake_model,modality,quantity,usd\n2026-11-01,m,stt,6,\n"
    )
    if name == "init":  # init writes the file --config names: an existing one is the mistake
        done = voicegw("init", "--config", "bad.yaml", cwd=tmp_path)
    else:
        done = voicegw(name, *ARGS.get(name, []), "--config", "bad.yaml", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"voicegw {name}: ")
    assert "bad.yaml" in line
    if name != "init":
        assert "bad.yaml:2:29: projects.app.budget.daily_usd: expected a number, got 'lots'" in line


def test_bad_flags_and_values_are_one_line_and_exit_2(tmp_path):
    flag = voicegw("costs", "--bogus", cwd=tmp_path)
    assert flag.returncode == 2
    assert flag.stderr == (
        "voicegw costs: unrecognized arguments: --bogus (see voicegw costs --help)\n"
    )
    choice = voicegw("logs", "--format", "yaml", cwd=tmp_path)
    assert choice.returncode == 2 and len(choice.stderr.splitlines()) == 1
    assert "invalid choice: 'yaml'" in choice.stderr
    when = voicegw("costs", "--since", "last tuesday", cwd=tmp_path)
    assert when.returncode == 2
    assert when.stderr.startswith("voicegw costs: 'last tuesday' is not a time: use 2026-11-01")
    assert len(when.stderr.splitlines()) == 1
    missing = voicegw("budgets", "--config", "nowhere.yaml", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr == (
        "voicegw budgets: nowhere.yaml: does not exist (given as the config file)\n"
    )
    nothing = voicegw(cwd=tmp_path)
    assert nothing.returncode == 2 and "Traceback" not in nothing.stderr


def test_a_typod_provider_block_is_an_error_with_a_did_you_mean(tmp_path):
    (tmp_path / "voicegw.yaml").write_text("providers:\n  opneai: {api_key: sk-test}\n")
    done = voicegw("costs", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "voicegw costs: voicegw.yaml:2:3: providers.opneai: unknown provider 'opneai': no "
        "installed plugin provides it and it is not one of VoiceGateway's providers; "
        "did you mean 'openai'?\n"
    )
    assert "pip install" not in done.stderr


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_has_a_one_line_description_and_an_example(name):
    parser = commands()[name]
    help_text = parser.format_help()
    usage, description, *_ = help_text.split("\n\n")
    assert usage.startswith(f"usage: voicegw {name}")
    summary = description.strip()
    assert "\n" not in summary and summary.endswith(".") and len(summary) < 100
    examples = help_text.split("examples:\n", 1)[1].splitlines()
    assert examples and all(line.startswith(f"  voicegw {name}") for line in examples)


def test_init_names_its_file_one_way(tmp_path):
    done = voicegw("init", "--config", "deploy/voicegw.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "deploy" / "voicegw.yaml").is_file()
    assert "voicegw check --config deploy/voicegw.yaml" in done.stdout
    positional = voicegw("init", "other.yaml", cwd=tmp_path)
    assert positional.returncode == 2 and "unrecognized arguments: other.yaml" in positional.stderr
    assert not (tmp_path / "other.yaml").exists()


def test_init_over_an_existing_file_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "voicegw.yaml").write_text("keep: me\n")
    done = voicegw("init", cwd=tmp_path)
    assert done.returncode == 2
    assert (
        done.stderr == "voicegw init: voicegw.yaml already exists; pass --force to overwrite it\n"
    )
    assert (tmp_path / "voicegw.yaml").read_text() == "keep: me\n"
