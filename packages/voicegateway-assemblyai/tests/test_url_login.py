"""A proxy's ``user:password@`` in assemblyai's base_url: the plugin sends AssemblyAI's key as
the ``Authorization`` header, the one the login would take, so the build refuses it."""

from __future__ import annotations

import base64

import pytest

from voicegateway import inference
from voicegateway.errors import ProviderUnavailable

from .conftest import KEY

BASIC = base64.b64encode(b"alice:s3cr3t").decode()


def test_a_login_in_the_base_url_is_refused_without_quoting_it(
    configure, assemblyai_server, monkeypatch
):
    monkeypatch.setenv("ASSEMBLYAI_API_KEY", KEY)
    host = assemblyai_server.url.removeprefix("http://")
    configure(base_url=f"http://alice:s3cr3t@{host}")

    with pytest.raises(ProviderUnavailable) as refused:
        inference.STT("assemblyai")

    message = str(refused.value)
    assert message.startswith("assemblyai: ") and "Authorization: <key>" in message
    assert "Remove the login from the base_url" in message
    assert "s3cr3t" not in message and "alice" not in message and BASIC not in message
    assert assemblyai_server.requests == []
