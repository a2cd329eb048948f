"""A proxy's ``user:password@`` in deepgram's base_url: the plugin sends Deepgram's key as
``Authorization: Token``, the header the login would take, so the build refuses it."""

from __future__ import annotations

import base64

import pytest

from voicegateway import inference
from voicegateway.errors import ProviderUnavailable

KEY = "dg-test-0123456789"
BASIC = base64.b64encode(b"alice:s3cr3t").decode()


@pytest.mark.parametrize("build", [inference.STT, inference.TTS])
def test_a_login_in_the_base_url_is_refused_without_quoting_it(
    build, use_config, deepgram_server, monkeypatch
):
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    host = deepgram_server.url.removeprefix("http://")
    use_config(f"""
        providers:
          deepgram: {{base_url: "http://alice:s3cr3t@{host}/v1"}}
    """)

    with pytest.raises(ProviderUnavailable) as refused:
        build("deepgram")

    message = str(refused.value)
    assert message.startswith("deepgram: ") and "Authorization: Token" in message
    assert "Remove the login from the base_url" in message
    assert "s3cr3t" not in message and "alice" not in message and BASIC not in message
    assert deepgram_server.requests == []
