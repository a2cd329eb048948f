"""A proxy's ``user:password@`` in deepgram's base_url: the plugin sends Deepgram's key as
``Authorization: Token``, the header the login would take, so the build refuses it."""

from __future__ import annotations

import pytest

from voicegateway import inference
from voicegateway_testkit.url_login import check_login_refused, login_url

KEY = "dg-test-0123456789"


@pytest.mark.parametrize("build", [inference.STT, inference.TTS])
def test_a_login_in_the_base_url_is_refused_without_quoting_it(
    build, use_config, deepgram_server, monkeypatch
):
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    use_config(f"""
        providers:
          deepgram: {{base_url: "{login_url(deepgram_server.url, "/v1")}"}}
    """)
    check_login_refused(
        lambda: build("deepgram"), "deepgram", "Authorization: Token", deepgram_server
    )
