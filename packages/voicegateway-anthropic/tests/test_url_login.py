"""A proxy's ``user:password@`` in anthropic's base_url: the SDK is given the URL without it and
sends it as ``Authorization: Basic`` beside the key's own ``x-api-key``; no log or repr holds it."""

from __future__ import annotations

import logging

from voicegateway import inference
from voicegateway_testkit.url_login import check_login_sent, login_url

from .conftest import ANTHROPIC_KEY
from .test_anthropic import _chat


async def test_a_login_in_the_base_url_goes_as_basic_auth_beside_the_key(
    use_config, anthropic_server, monkeypatch, caplog
):
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    use_config(f"""
        providers:
          anthropic: {{base_url: "{login_url(anthropic_server.url)}"}}
    """)
    caplog.set_level(logging.DEBUG)
    anthropic_server.reply = "Seven is free."
    model = inference.LLM("anthropic/claude-sonnet-4-6")

    assert await _chat(model) == "Seven is free."

    requests = anthropic_server.requests_for("/v1/messages")
    assert len(requests) == 1
    check_login_sent(requests, "x-api-key", ANTHROPIC_KEY, caplog.text, repr(model.plugin.__dict__))
    # httpx logs each request's URL (LiveKit workers log INFO): the clean one
    assert f"HTTP Request: POST {anthropic_server.url}/v1/messages" in caplog.text
