"""A proxy's ``user:password@`` in groq's base_url: the OpenAI SDK sends Groq's key as
``Authorization: Bearer``, the header the login would take, so the build refuses it."""

from __future__ import annotations

import base64

import pytest

from voicegateway import inference
from voicegateway.errors import ProviderUnavailable
from voicegateway_testkit.servers.groq import PREFIX

from .conftest import GROQ_KEY

BASIC = base64.b64encode(b"alice:s3cr3t").decode()


@pytest.mark.parametrize("build", [inference.LLM, inference.STT])
def test_a_login_in_the_base_url_is_refused_without_quoting_it(
    build, use_config, groq_server, monkeypatch
):
    monkeypatch.setenv("GROQ_API_KEY", GROQ_KEY)
    host = groq_server.url.removeprefix("http://")
    use_config(f"""
        providers:
          groq: {{base_url: "http://alice:s3cr3t@{host}{PREFIX}"}}
    """)

    with pytest.raises(ProviderUnavailable) as refused:
        build("groq")

    message = str(refused.value)
    assert message.startswith("groq: ") and "Authorization: Bearer" in message
    assert "Remove the login from the base_url" in message
    assert "s3cr3t" not in message and "alice" not in message and BASIC not in message
    assert groq_server.requests == []
