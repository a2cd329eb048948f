"""Every problem of a file, reported at once, with file:line:column, key path and a hint."""

import textwrap
from pathlib import Path

import pytest

from voicegateway.config import ConfigError, ConfigIssue, load_config


def problems(tmp_path: Path, text: str, **kwargs) -> list[ConfigIssue]:
    path = tmp_path / "voicegw.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=kwargs.pop("env", {}), **kwargs)
    return caught.value.issues


def where(issue: ConfigIssue) -> tuple[str, int | None, int | None]:
    return issue.path, issue.line, issue.column


# --- format ---------------------------------------------------------------------------------


def test_issue_str_is_file_line_column_path_message_hint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    issue = ConfigIssue(
        tmp_path / "voicegw.yaml",
        4,
        5,
        "providers.openai.api_kye",
        "unknown key",
        "did you mean 'api_key'?",
    )
    assert str(issue) == (
        "voicegw.yaml:4:5: providers.openai.api_kye: unknown key; did you mean 'api_key'?"
    )


def test_issue_outside_the_working_directory_shows_the_absolute_path(tmp_path):
    issue = ConfigIssue(tmp_path / "voicegw.yaml", 1, 2, "models", "bad")
    assert str(issue) == f"{tmp_path / 'voicegw.yaml'}:1:2: models: bad"


def test_error_has_a_header_and_one_issue_per_line(tmp_path):
    path = tmp_path / "voicegw.yaml"
    path.write_text("modles: {}\nstorage: {pth: x}\nfallbacks: {llm: []}\nprojcts: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    lines = str(caught.value).splitlines()
    assert lines[0] == f"3 problems in {path}"
    assert len(lines) == 4
    assert lines[1].strip().endswith("1:1: modles: unknown key; did you mean 'models'?")
    assert lines[2].strip().endswith("2:11: storage.pth: unknown key; did you mean 'path'?")
    assert lines[3].strip().endswith("4:1: projcts: unknown key; did you mean 'projects'?")


def test_single_problem_header(tmp_path):
    path = tmp_path / "voicegw.yaml"
    path.write_text("modles: {}\n")
    with pytest.raises(ConfigError, match=r"^1 problem in "):
        load_config(path, env={})


# --- unknown keys ---------------------------------------------------------------------------


def test_unknown_keys_everywhere_point_at_the_key_with_did_you_mean(tmp_path):
    issues = problems(
        tmp_path,
        """\
        default_projct: app
        providers:
          openai:
            api_kye: ${OPENAI_API_KEY}
        projects:
          app:
            budgte: {daily_usd: 5, action: block}
            providers:
              groq: {baseurl: "http://x"}
        storage:
          paht: /tmp/x
        """,
    )
    assert [(where(i), i.message, i.hint) for i in issues] == [
        (("default_project", None, None), NOT_SET, "add default_project: app"),
        (("default_projct", 1, 1), "unknown key", "did you mean 'default_project'?"),
        (("providers.openai.api_kye", 4, 5), "unknown key", "did you mean 'api_key'?"),
        (("projects.app.budgte", 7, 5), "unknown key", "did you mean 'budget'?"),
        (("projects.app.providers.groq.baseurl", 9, 14), "unknown key", "did you mean 'base_url'?"),
        (("storage.paht", 11, 3), "unknown key", "did you mean 'path'?"),
    ]


NOT_SET = "not set, and projects: has no project named 'default' (app)"


def test_unknown_key_with_nothing_close_lists_the_allowed_keys(tmp_path):
    [issue] = problems(
        tmp_path, "projects:\n  default:\n    budget: {zzz: 1, daily_usd: 1, action: warn}\n"
    )
    allowed = "daily_usd, monthly_usd, per_session_usd, action, thresholds, providers, "
    allowed += "throttle_to, reserve_usd, reserve_output_tokens, max_reserve_output_tokens, lease, "
    assert issue.hint == f"allowed keys: {allowed}notify"


def test_duplicate_key_is_reported(tmp_path):
    [issue] = problems(tmp_path, "providers:\n  openai: {}\n  openai: {}\n")
    assert where(issue) == ("providers.openai", 3, 3)
    assert issue.message == "duplicate key"


# --- values ---------------------------------------------------------------------------------


def test_literal_error_is_reworded(tmp_path):
    [issue] = problems(
        tmp_path, "projects:\n  default:\n    budget: {daily_usd: 5, action: maybe}\n"
    )
    assert where(issue) == ("projects.default.budget.action", 3, 36)
    assert issue.message == "expected one of warn, throttle, block, got 'maybe'"


def test_literal_error_suggests_the_close_choice(tmp_path):
    [issue] = problems(
        tmp_path, "projects:\n  default:\n    budget: {daily_usd: 5, action: blok}\n"
    )
    assert issue.hint == "did you mean 'block'?"


def test_bad_fallback_modality_is_named(tmp_path):
    [issue] = problems(tmp_path, "fallbacks:\n  llmm: [openai/gpt-4o-mini]\n")
    assert where(issue) == ("fallbacks.llmm", 2, 3)
    assert issue.message == "expected one of stt, llm, tts, got 'llmm'"
    assert issue.hint == "did you mean 'llm'?"


def test_type_errors_say_what_was_expected(tmp_path):
    issues = problems(
        tmp_path,
        """\
        providers: [openai]
        projects:
          default:
            budget: {daily_usd: lots, action: warn}
        models:
          voice: 5
        storage: nope
        """,
    )
    assert [(where(i), i.message) for i in issues] == [
        (("providers", 1, 1), "expected a mapping, got a list"),
        (("projects.default.budget.daily_usd", 4, 25), "expected a number, got 'lots'"),
        (("models.voice", 6, 10), "expected text, got a number"),
        (("storage", 7, 10), "expected a mapping, got text"),
    ]


def test_budget_needs_an_action(tmp_path):
    [issue] = problems(tmp_path, "projects:\n  default:\n    budget:\n      daily_usd: 5\n")
    assert where(issue) == ("projects.default.budget.action", 3, 5)
    assert issue.message == "required key is missing"
    assert issue.hint == "expected one of warn, throttle, block"


def test_budget_needs_a_limit(tmp_path):
    [issue] = problems(tmp_path, "projects:\n  default:\n    budget: {action: warn}\n")
    assert where(issue) == ("projects.default.budget", 3, 5)
    assert "at least one limit" in issue.message


def test_budget_limits_cannot_be_negative(tmp_path):
    [issue] = problems(
        tmp_path, "projects:\n  default:\n    budget: {monthly_usd: -1, action: warn}\n"
    )
    assert issue.message == "must be at least 0, got -1"


def test_bad_model_strings_name_the_entry(tmp_path):
    issues = problems(
        tmp_path,
        """\
        models:
          brain: [openai/gpt-4o-mini, "groq/llama 3", Ollama]
          listener: []
          voice: "openai/"
        fallbacks:
          tts: [cartesia/sonic-3, " piper"]
        """,
    )
    assert [where(i) for i in issues] == [
        ("models.brain[1]", 2, 31),
        ("models.brain[2]", 2, 47),
        ("models.listener", 3, 3),
        ("models.voice", 4, 10),
        ("fallbacks.tts[1]", 6, 27),
    ]
    assert issues[0].message.startswith("'groq/llama 3' is not a model string")
    assert "'Ollama'" in issues[1].message
    assert issues[2].message == "must not be empty"
    assert "'openai/'" in issues[3].message


def test_bad_provider_id(tmp_path):
    [issue] = problems(tmp_path, "providers:\n  OpenAI: {}\n")
    assert where(issue) == ("providers.OpenAI", 2, 3)
    assert "not a provider id" in issue.message


def test_default_project_must_name_a_project(tmp_path):
    [issue] = problems(tmp_path, "default_project: my-ap\nprojects:\n  my-app: {}\n  other: {}\n")
    assert where(issue) == ("default_project", 1, 18)
    assert issue.message == "names no project under projects: (my-app, other)"
    assert issue.hint == "did you mean 'my-app'?"


def test_default_project_is_reported_with_other_problems(tmp_path):
    issues = problems(tmp_path, "default_project: my-ap\nprojects:\n  my-app: {budget: {}}\n")
    assert [i.path for i in issues] == ["default_project", "projects.my-app.budget.action"]


def test_all_problems_at_once(tmp_path):
    issues = problems(
        tmp_path,
        """\
        default_project: ap
        providers:
          openai: {api_kye: x}
        projects:
          app: {budget: {daily_usd: 5, action: maybe}}
        models:
          brain: [Bad Model]
        storage: {path: "${NO_SUCH_VAR}"}
        """,
        profile="dev",
    )
    assert [i.line for i in issues] == [None, 1, 3, 5, 7, 8]
    assert "unknown profile 'dev'" in issues[0].message


# --- YAML -----------------------------------------------------------------------------------


def test_yaml_syntax_error_is_reported_alone_with_its_line(tmp_path):
    [issue] = problems(tmp_path, "providers:\n  openai: {api_key: x\nmodels: [\n")
    assert issue.line == 3
    assert issue.message.startswith("invalid YAML: ")


def test_unquoted_reference_in_flow_mapping_is_read_as_written(tmp_path):
    """Strict YAML ends a plain value at a brace inside { }; people write it anyway."""
    text = "providers:\n  openai: {api_key: ${OPENAI_API_KEY}, base_url: ${URL:-http://x}}\n"
    path = tmp_path / "voicegw.yaml"
    path.write_text(text + "modles: {}\n")
    [issue] = problems(tmp_path, text + "modles: {}\n")
    assert where(issue) == ("modles", 3, 1)  # positions after the reference are still true
    path.write_text(text)
    settings = load_config(path, env={"OPENAI_API_KEY": "sk-1"}).provider_settings("openai")
    assert settings.api_key.get_secret_value() == "sk-1"
    assert settings.base_url == "http://x"


def test_bad_tag_is_reported(tmp_path):
    issues = problems(tmp_path, "models:\n  brain: !!int nope\n  voice: !custom x\n")
    assert [where(i) for i in issues] == [("models.brain", 2, 10), ("models.voice", 3, 10)]
    assert all(i.message.startswith("invalid value") for i in issues)


@pytest.mark.parametrize("key", ["path", "spool_dir"])
def test_a_nul_character_in_a_storage_path_is_refused_at_load(tmp_path, key):
    # YAML's "\0" escape, or a variable holding one: every file call on it would raise later.
    issues = problems(tmp_path, f'storage:\n  {key}: "/var/lib/usage\\0.duckdb"\n')
    assert [where(issue) for issue in issues] == [(f"storage.{key}", 2, len(key) + 5)]
    assert "NUL character" in issues[0].message and "remove it" in issues[0].message
    issues = problems(tmp_path, "storage: {path: '${P}'}\n", env={"P": "/tmp/a\0b"})
    assert [where(issue) for issue in issues] == [("storage.path", 1, 17)]
