"""Budget and rate-limit settings in voicegw.yaml: what loads, and clear errors at file:line."""

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from voicegateway.config import ConfigError, load_config
from voicegateway.config.schema import parse_rate


def load(tmp_path: Path, text: str):
    path = tmp_path / "voicegw.yaml"
    path.write_text(textwrap.dedent(text))
    return load_config(path, env={})


def problems(tmp_path: Path, text: str):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return caught.value.issues


def test_a_budget_with_defaults_and_provider_limits(tmp_path):
    config = load(
        tmp_path,
        """
        projects:
          app:
            budget:
              monthly_usd: 50
              action: throttle
              throttle_to: [fake/cheap]
              thresholds: [1.0, 0.5]
              providers:
                openai: {daily_usd: 2}
        default_project: app
        """,
    )
    budget = config.project("app").budget
    assert budget.thresholds == [0.5, 1.0]
    assert budget.providers["openai"].daily_usd == Decimal(2)
    assert budget.reserve_usd == Decimal("0.01")


def test_rate_limits_top_level_and_per_project(tmp_path):
    config = load(
        tmp_path,
        """
        rate_limits:
          openai: {requests: 5/s, concurrent: 3}
        projects:
          app:
            rate_limits:
              "*": {tokens_per_minute: 10000, on_limit: wait, max_wait: 2}
        default_project: app
        """,
    )
    assert config.rate_limits["openai"].requests == "5/s"
    assert config.project("app").rate_limits["*"].on_limit == "wait"


@pytest.mark.parametrize(
    ("text", "count", "seconds"),
    [("5/s", 5, 1), ("300/min", 300, 60), ("1000 / h", 1000, 3600), ("0.5/s", 0.5, 1)],
)
def test_parse_rate(text, count, seconds):
    assert parse_rate(text) == (count, seconds)


@pytest.mark.parametrize(
    ("body", "path", "line", "words"),
    [
        ("budget: {daily_usd: 5}", "projects.app.budget.action", 4, "action"),
        ("budget: {daily_usd: -5, action: block}", "projects.app.budget.daily_usd", 4, "0"),
        ("budget: {action: block}", "projects.app.budget", 4, "at least one limit"),
        (
            "rate_limits: {openai: {requests: 5/s, on_limit: maybe}}",
            "projects.app.rate_limits.openai.on_limit",
            4,
            "wait",
        ),
        (
            "rate_limits: {openai: {concurrent: -1}}",
            "projects.app.rate_limits.openai.concurrent",
            4,
            "1",
        ),
        (
            "rate_limits: {openai: {requests: 5 per second}}",
            "projects.app.rate_limits.openai.requests",
            4,
            "5/s",
        ),
        (
            "rate_limits: {openai: {tokens_per_minute: -3}}",
            "projects.app.rate_limits.openai.tokens_per_minute",
            4,
            "0",
        ),
        (
            "rate_limits: {openai: {on_limit: reject}}",
            "projects.app.rate_limits.openai",
            4,
            "at least one",
        ),
    ],
)
def test_bad_policy_settings_are_clear_errors_with_lines(tmp_path, body, path, line, words):
    issues = problems(
        tmp_path,
        f"""
        default_project: app
        projects:
          app:
            {body}
        """,
    )
    assert len(issues) == 1, issues
    issue = issues[0]
    assert issue.path == path, str(issue)
    assert issue.line == line + 1, str(issue)
    assert words in str(issue)
