"""A proxy's ``user:password@`` in anthropic's base_url: the SDK is given the URL without it and
sends it as ``Authorization: Basic`` beside the key's own ``x-api-key``; no log or repr holds it."""

from __future__ import annotations

import base64
import logging

from voicegateway import inference

from .conftest import ANTHROPIC_KEY
from .test_anthropic import _chat

BASIC = base64.b64encode(b"alice:s3cr3t").decode()


async def test_a_login_in_the_base_url_goes_as_basic_auth_beside_the_key(
    use_config, anthropic_server, monkeypatch, caplog
):
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    host = anthropic_server.url.removeprefix("http://")
    use_config(f"""
        providers:
          anthropic: {{base_url: "http://alice:s3cr3t@{host}"}}
    """)
    caplog.set_level(logging.DEBUG)
    anthropic_server.reply = "Seven is free."
    model = inference.LLM("anthropic/claude-sonnet-4-6")

    assert await _chat(model) == "Seven is free."

    [request] = anthropic_server.requests_for("/v1/messages")
    assert request.headers["Authorization"] == f"Basic {BASIC}"
    assert request.headers["x-api-key"] == ANTHROPIC_KEY
    # httpx logs each request's URL (LiveKit workers log INFO): the clean one
    assert f"HTTP Request: POST {anthropic_server.url}/v1/messages" in caplog.text
    assert "s3cr3t" not in caplog.text and BASIC not in caplog.text
    assert "s3cr3t" not in repr(model.plugin.__dict__) and BASIC not in repr(model.plugin.__dict__)
