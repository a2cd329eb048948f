"""Credentials in a base_url are split off (the URL an SDK sees is clean) and redacted for
messages."""

from __future__ import annotations

import base64

import pytest

from voicegateway.url_credentials import UrlCredentials, redact_url, split_credentials


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("url", "clean", "authorization", "key"),
    [
        ("https://api.openai.com/v1", "https://api.openai.com/v1", None, None),
        (
            "http://alice:s3cr3t@proxy:8080/v1",
            "http://proxy:8080/v1",
            basic("alice", "s3cr3t"),
            None,
        ),
        ("http://alice:s%40cret@proxy/v1", "http://proxy/v1", basic("alice", "s@cret"), None),
        ("http://token@proxy/v1", "http://proxy/v1", basic("token", ""), None),
        ("https://gw/v1?api-key=sk-1&region=eu", "https://gw/v1?region=eu", None, "sk-1"),
        ("https://gw/v1?api_key=sk-1", "https://gw/v1", None, "sk-1"),
        ("https://gw/v1?key=k&token=t", "https://gw/v1", None, "k"),
        ("https://u:p@gw/v1?apikey=k#x", "https://gw/v1#x", basic("u", "p"), "k"),
        ("https://gw/v1?region=eu&x=a%2Fb", "https://gw/v1?region=eu&x=a%2Fb", None, None),
    ],
)
def test_split_credentials(url, clean, authorization, key):
    assert split_credentials(url) == UrlCredentials(clean, authorization, key)


def test_the_credentials_stay_out_of_the_repr():
    text = repr(split_credentials("http://alice:s3cr3t@proxy/v1?api-key=sk-1"))
    assert "s3cr3t" not in text and "sk-1" not in text and "http://proxy/v1" in text


def test_redact_url():
    assert redact_url("http://alice:s3cr3t@proxy/v1") == "http://proxy/v1"
    assert redact_url("https://gw/v1?api-key=sk-1&region=eu&sig=abc") == (
        "https://gw/v1?api-key=***&region=eu&sig=***"
    )
    assert redact_url("https://gw/v1?region=eu") == "https://gw/v1?region=eu"
