"""What a provider does with a proxy's ``user:password@`` in its ``base_url``, checked the same
way for every provider whose own key takes the ``Authorization`` header (the login cannot go
there too): the build refuses it, says so, and quotes none of it."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from voicegateway.errors import ProviderUnavailable

LOGIN = "alice:s3cr3t"
"""The login the checks put in a base_url."""
BASIC = base64.b64encode(LOGIN.encode()).decode()


def login_url(server_url: str, path: str = "") -> str:
    """``server_url`` (``http://host:port``) with :data:`LOGIN` in it, then ``path``."""
    return f"http://{LOGIN}@{server_url.removeprefix('http://')}{path}"


def check_login_refused(build: Callable[[], Any], provider: str, key_header: str, server) -> None:
    """``build()`` (an ``inference`` constructor whose config puts :func:`login_url` in the
    provider's base_url) refuses with one ``ProviderUnavailable`` naming the provider and the
    header its key takes, quoting neither part of the login nor its Basic value, and the
    provider's server heard nothing."""
    with pytest.raises(ProviderUnavailable) as refused:
        build()
    message = str(refused.value)
    assert message.startswith(f"{provider}: ") and key_header in message, message
    assert "Remove the login from the base_url" in message
    user, password = LOGIN.split(":")
    assert user not in message and password not in message and BASIC not in message
    assert server.requests == []


def check_login_sent(requests, key_header: str, key: str, logged: str, shown: str) -> None:
    """For a provider whose key takes its own header: every recorded request carries the login
    as ``Authorization: Basic`` beside the key, and neither the password nor the Basic value is
    in ``logged`` (the captured logs) or ``shown`` (the reprs a user could print)."""
    assert requests
    for request in requests:
        assert request.headers["Authorization"] == f"Basic {BASIC}"
        assert request.headers[key_header] == key
    password = LOGIN.split(":")[1]
    for text in (logged, shown):
        assert password not in text and BASIC not in text
