"""Credentials written into a provider's ``base_url`` (``http://user:pass@proxy/v1``,
``https://gateway/v1?api-key=...``), kept out of every URL an SDK sees.

HTTP clients log the URL of each request (httpx: ``HTTP Request: POST <url>`` at INFO, and
LiveKit workers log INFO) and quote it in their errors, so a URL must never carry a secret. The
core splits them off when it resolves a provider: the URL handed to the plugin is clean, the
``user:password`` becomes the ``Authorization: Basic`` header httpx would have sent for it, and a
key parameter becomes the provider's key, sent in the provider's own key header. A provider whose
key itself travels in ``Authorization`` cannot send both: its factory refuses the login
(:func:`refuse_login`). Standard library only.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from dataclasses import dataclass, field

from voicegateway.errors import ProviderUnavailable

_KEY_PARAMS = re.compile(r"^(api[-_]?key|key|access[-_]?token|token|auth|authorization)$", re.I)
"""Query parameters that carry an API key."""
_SECRET_PARAMS = re.compile(r"key|token|secret|passw|auth|sig|credential", re.I)
"""Query parameters whose value is never shown (a superset of the key parameters)."""


@dataclass(frozen=True)
class UrlCredentials:
    """``url`` without its credentials, and what they were."""

    url: str
    authorization: str | None = field(default=None, repr=False)
    """``Basic ...`` from the ``user:password@`` part (percent-decoded, as httpx sends it)."""
    key: str | None = field(default=None, repr=False)
    """The value of a key parameter (``?api-key=``, ``?key=``, ``?token=``...)."""


def split_credentials(url: str) -> UrlCredentials:
    """Split ``url`` into the URL without ``user:password@`` or key parameters, the Basic
    ``Authorization`` header value for the first, and the key from the second."""
    parts = urllib.parse.urlsplit(url)
    authorization = None
    if parts.username is not None or parts.password is not None:
        user = urllib.parse.unquote(parts.username or "")
        password = urllib.parse.unquote(parts.password or "")
        authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    kept, key = [], None
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if _KEY_PARAMS.match(name):
            key = key or value
        else:
            kept.append((name, value))
    query = urllib.parse.urlencode(kept) if key is not None else parts.query
    netloc = parts.netloc.rpartition("@")[2]
    clean = urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))
    return UrlCredentials(clean, authorization, key)


def redact_url(url: str) -> str:
    """``url`` as it may be shown: no ``user:password@``, and ``***`` for the value of any
    parameter that looks secret."""
    parts = urllib.parse.urlsplit(url)
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    if any(_SECRET_PARAMS.search(name) for name, _ in pairs):
        shown = [(n, "***" if _SECRET_PARAMS.search(n) else v) for n, v in pairs]
        parts = parts._replace(query=urllib.parse.urlencode(shown, safe="*"))
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def refuse_login(provider: str, authorization: str | None, key_header: str) -> None:
    """Raise when the configured URL held a ``user:password@`` login for a provider whose key is
    sent as ``key_header`` (``Authorization: Token <key>``): one header cannot carry both, and
    dropping either fails every call (401 from the proxy or from the provider)."""
    if authorization:
        raise ProviderUnavailable(
            f"{provider}: its base_url holds a user:password@ login, which would be sent as the "
            f"Authorization header, but {provider} sends its API key in that header "
            f"({key_header}): both cannot be sent. Remove the login from the base_url "
            f"(providers.{provider}.base_url or base_url=), or have the proxy take it somewhere "
            "else (another header, a key parameter such as ?api-key=, or its network)"
        )
