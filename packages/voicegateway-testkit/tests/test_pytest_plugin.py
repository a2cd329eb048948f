"""The fixtures, as a plugin author's project gets them: through the pytest11 entry point, in a
fresh project (pytester) that has not opted into anything."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

LOOP_SCOPE = ("-o", "asyncio_default_fixture_loop_scope=function")

SEES_THE_ENVIRONMENT = """
import os

def test_sees_its_environment():
    assert os.environ["OPENAI_API_KEY"] == "sk-real"
    assert os.environ["XDG_DATA_HOME"] == "/home/someone/.local/share"
"""


@pytest.fixture
def real_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a developer's shell holds."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "real-secret")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.openai.com/v1")
    monkeypatch.setenv("UNRELATED_SETTING", "kept")
    monkeypatch.setenv("XDG_DATA_HOME", "/home/someone/.local/share")


def test_an_unrelated_test_keeps_its_keys_and_data_directory(
    pytester: pytest.Pytester, real_environment: None
):
    pytester.makepyfile(SEES_THE_ENVIRONMENT)
    pytester.runpytest_inprocess(*LOOP_SCOPE).assert_outcomes(passed=1)


def test_a_test_that_asks_runs_without_keys_in_its_own_data_directory(
    pytester: pytest.Pytester, real_environment: None
):
    pytester.makepyfile(
        """
        import os

        import pytest

        def test_named(no_provider_keys, private_data_dir):
            for name in ("OPENAI_API_KEY", "LIVEKIT_API_SECRET", "OPENAI_BASE_URL"):
                assert name not in os.environ
            assert os.environ["UNRELATED_SETTING"] == "kept"
            assert os.environ["XDG_DATA_HOME"] == str(private_data_dir)

        @pytest.mark.usefixtures("no_provider_keys")
        def test_marked():
            assert "OPENAI_API_KEY" not in os.environ

        def test_not_asking():
            assert os.environ["OPENAI_API_KEY"] == "sk-real"
        """
    )
    pytester.runpytest_inprocess(*LOOP_SCOPE).assert_outcomes(passed=3)


def test_the_ini_option_applies_them_to_every_test(
    pytester: pytest.Pytester, real_environment: None
):
    pytester.makepyfile(SEES_THE_ENVIRONMENT)
    pytester.makeini(
        """
        [pytest]
        voicegateway_autouse = no_provider_keys private_data_dir
        """
    )
    result = pytester.runpytest_inprocess(*LOOP_SCOPE)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*KeyError: 'OPENAI_API_KEY'*"])


def test_an_unknown_name_in_the_ini_option_is_a_usage_error(pytester: pytest.Pytester):
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_inprocess("-o", "voicegateway_autouse=no_provider_key")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*voicegateway_autouse: unknown fixture(s) no_provider_key;*"])


def test_the_servers_and_helpers_in_a_fresh_project(pytester: pytest.Pytester):
    pytester.makepyfile(
        """
        import pytest
        from livekit.agents.utils import http_context

        def test_servers_run(openai_server, deepgram_server, no_retry):
            assert openai_server.url.startswith("http://127.0.0.1:")
            assert deepgram_server.port != openai_server.port
            assert (no_retry.max_retry, no_retry.timeout) == (0, 5)

        @pytest.mark.asyncio
        async def test_lk_http_binds_livekits_http_session(lk_http):
            assert http_context.http_session() is lk_http
        """
    )
    # no asyncio_mode here: pytest-asyncio's strict default, the stricter case for lk_http
    pytester.runpytest_inprocess(*LOOP_SCOPE).assert_outcomes(passed=2)
