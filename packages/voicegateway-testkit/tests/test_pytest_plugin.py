"""The fixtures, as a plugin author's project gets them: through the pytest11 entry point."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_fixtures_in_a_fresh_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "real-secret")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.openai.com/v1")
    monkeypatch.setenv("UNRELATED_SETTING", "kept")
    pytester.makepyfile(
        """
        import os

        import pytest
        from livekit.agents.utils import http_context

        def test_credentials_are_gone_and_servers_run(openai_server, deepgram_server, no_retry):
            for name in ("OPENAI_API_KEY", "LIVEKIT_API_SECRET", "OPENAI_BASE_URL"):
                assert name not in os.environ
            assert os.environ["UNRELATED_SETTING"] == "kept"
            assert openai_server.url.startswith("http://127.0.0.1:")
            assert deepgram_server.port != openai_server.port
            assert (no_retry.max_retry, no_retry.timeout) == (0, 5)

        @pytest.mark.asyncio
        async def test_lk_http_binds_livekits_http_session(lk_http):
            assert http_context.http_session() is lk_http
        """
    )
    # no asyncio_mode here: pytest-asyncio's strict default, the stricter case for lk_http
    result = pytester.runpytest_inprocess("-o", "asyncio_default_fixture_loop_scope=function")
    result.assert_outcomes(passed=2)
