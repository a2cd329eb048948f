"""A proxy's ``user:password@`` in assemblyai's base_url: the plugin sends AssemblyAI's key as
the ``Authorization`` header, the one the login would take, so the build refuses it."""

from __future__ import annotations

from voicegateway import inference
from voicegateway_testkit.url_login import check_login_refused, login_url

from .conftest import KEY


def test_a_login_in_the_base_url_is_refused_without_quoting_it(
    configure, assemblyai_server, monkeypatch
):
    monkeypatch.setenv("ASSEMBLYAI_API_KEY", KEY)
    configure(base_url=login_url(assemblyai_server.url))
    check_login_refused(
        lambda: inference.STT("assemblyai"),
        "assemblyai",
        "Authorization: <key>",
        assemblyai_server,
    )
