"""A proxy's ``user:password@`` in groq's base_url: the OpenAI SDK sends Groq's key as
``Authorization: Bearer``, the header the login would take, so the build refuses it."""

from __future__ import annotations

import pytest

from voicegateway import inference
from voicegateway_testkit.servers.groq import PREFIX
from voicegateway_testkit.url_login import check_login_refused, login_url

from .conftest import GROQ_KEY


@pytest.mark.parametrize("build", [inference.LLM, inference.STT])
def test_a_login_in_the_base_url_is_refused_without_quoting_it(
    build, use_config, groq_server, monkeypatch
):
    monkeypatch.setenv("GROQ_API_KEY", GROQ_KEY)
    use_config(f"""
        providers:
          groq: {{base_url: "{login_url(groq_server.url, PREFIX)}"}}
    """)
    check_login_refused(lambda: build("groq"), "groq", "Authorization: Bearer", groq_server)
