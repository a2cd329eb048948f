"""An aiohttp session that sends a ``base_url``'s login on every request and websocket.

LiveKit's aiohttp plugins (Cartesia, ElevenLabs) send their key in their own header per request
and accept the session they use (``http_session=``): the ``Authorization: Basic`` header of a
proxy's ``user:password@`` (``BuildRequest.authorization``) goes as that session's default
header. The session shares the connection pool of the one the plugin would have used (the
agent's, or the job's) without owning it: it is closed when that one is, so nothing is left
to close.
"""

from __future__ import annotations

from typing import Any

from voicegateway.errors import ProviderUnavailable


def session_with_login(provider: str, http_session: Any, authorization: str) -> Any:
    """A session sending ``authorization`` as its ``Authorization`` header, on the pool of
    ``http_session`` or, without one, of LiveKit's job session (with the job's HTTP proxy, as
    LiveKit sets it)."""
    import aiohttp
    from livekit.agents.utils import http_context

    proxy = None
    if http_session is None:
        try:
            http_session = http_context.http_session()
        except RuntimeError:
            raise ProviderUnavailable(
                f"{provider}: the login of its base_url is sent through the job's HTTP session: "
                "build it inside the job (its entrypoint), within "
                "livekit.agents.utils.http_context.open(), or pass http_session="
            ) from None
        proxy = _job_http_proxy()
    return aiohttp.ClientSession(
        connector=http_session.connector,
        connector_owner=False,
        headers={**http_session.headers, "Authorization": authorization},
        timeout=http_session.timeout,
        trust_env=http_session.trust_env,
        proxy=proxy,
    )


def _job_http_proxy() -> str | None:
    from livekit.agents.job import get_job_context

    try:
        return get_job_context().proc.http_proxy
    except RuntimeError:
        return None
