"""Registers the ``ollama`` provider: a local Ollama server, reached through its OpenAI-compatible
API with ``livekit.plugins.openai.LLM.with_ollama``.

``providers.ollama.base_url`` is that API's root (``http://gpu-box:11434/v1``). Without one, the
server is where ``$OLLAMA_HOST`` says, read as Ollama's own CLI reads it (``127.0.0.1:11434``,
``gpu-box``, ``http://gpu-box:11434``, ``0.0.0.0``: without a scheme, http on port 11434; the
listen-on-all address means this machine), else ``127.0.0.1:11434``. No key: Ollama ignores the
``Authorization`` header. A local engine costs nothing (``price_catalog``
is None, so records are priced at $0 unless voicegw.yaml sets a rate under ``pricing:``); records
still carry the prompt and completion tokens from the usage chunk Ollama streams last.

``voicegw providers`` also lists the models the configured server has pulled (``/api/tags``).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from pydantic import field_validator

from voicegateway.plugin_api import (
    BuildRequest,
    ModelInfo,
    ProviderSettings,
    ProviderSpec,
    hookimpl,
    split_credentials,
)

VOICEGATEWAY_PLUGIN_API = 1

DEFAULT_HOST = "127.0.0.1:11434"
DEFAULT_PORT = 11434

MODELS = (
    ModelInfo("llama3.2", "llm", "any pulled model works: ollama/<name>[:<tag>]"),
    ModelInfo("llama3.1", "llm"),
    ModelInfo("qwen2.5", "llm"),
    ModelInfo("mistral", "llm"),
    ModelInfo("gemma3", "llm"),
)


class OllamaSettings(ProviderSettings):
    """``providers.ollama``: ``base_url`` must be an address :func:`server_root` can read, so a
    malformed one is a load error on its line, not an ``InvalidURL`` at the first call."""

    @field_validator("base_url")
    @classmethod
    def _an_address(cls, value: str | None) -> str | None:
        if value and not getattr(value, "missing", ()):  # a ${VAR} still unset is checked later
            server_root(value)
        return value


def make_llm(request: BuildRequest) -> Any:
    from livekit.plugins import openai

    base_url = api_base(request.base_url)
    if request.authorization and "client" not in request.extra:
        # A proxy's user:password (the core took them out of the URL): sent as httpx would.
        import openai as sdk

        headers = {"Authorization": request.authorization}
        client = sdk.AsyncClient(api_key="ollama", base_url=base_url, default_headers=headers)
        return openai.LLM.with_ollama(model=request.model, client=client, **request.extra)
    return openai.LLM.with_ollama(model=request.model, base_url=base_url, **request.extra)


def api_base(base_url: str | None) -> str:
    """The OpenAI-compatible API root (``.../v1``) for ``base_url``, else ``$OLLAMA_HOST``."""
    return f"{server_root(base_url)}/v1"


def server_root(base_url: str | None) -> str:
    """The Ollama server: its native API (``/api/tags``) lives at the root, ``/v1`` beside it.

    ``base_url`` (else ``$OLLAMA_HOST``) is a URL or, as Ollama writes it, ``host[:port]`` (http,
    port 11434). Raises ValueError, naming no part of the address (it may hold a password), when
    it is neither.
    """
    text = (base_url or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST).strip()
    default_port = None
    if "://" not in text:
        hostport, _, path = text.partition("/")
        if _ip(hostport.strip("[]")) is not None:  # a bare address, "::" included
            hostport = f"[{hostport.strip('[]')}]" if ":" in hostport else hostport
        text, default_port = f"http://{hostport}/{path}", DEFAULT_PORT
    parts = urllib.parse.urlsplit(text)
    try:
        port = parts.port or default_port
    except ValueError:  # "host:11434:11434": a port written twice
        port, parts = None, parts._replace(netloc="")
    if not parts.hostname or parts.scheme not in ("http", "https"):
        where = "the base_url" if base_url else "$OLLAMA_HOST"
        raise ValueError(
            f"{where} is not an Ollama address: write host, host:port or http://host:port[/v1]"
        )
    host = parts.hostname
    if (ip := _ip(host)) is not None and ip.is_unspecified:  # a server's listen-on-all address
        host = "127.0.0.1" if ip.version == 4 else "::1"
    host = f"[{host}]" if ":" in host else host
    login = parts.netloc.rpartition("@")[0]
    netloc = f"{login + '@' if login else ''}{host}{f':{port}' if port else ''}"
    path = parts.path.rstrip("/").removesuffix("/v1")
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, "", "")).rstrip("/")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def discover_models(settings: Any, timeout: float) -> tuple[ModelInfo, ...]:
    """The models the configured server has pulled, from its ``GET /api/tags``."""
    try:
        root = server_root(getattr(settings, "base_url", None))
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None
    # urllib neither sends a URL's user:password nor keeps it out of its errors (a URL without a
    # port: InvalidURL quotes "password@host" as the port): it is given the URL without them,
    # and gets them as the header the LLM's httpx sends.
    credentials = split_credentials(root)
    shown = credentials.url
    try:
        request = urllib.request.Request(f"{shown}/api/tags")
        if credentials.authorization:
            request.add_unredirected_header("Authorization", credentials.authorization)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            tags = json.load(response)
    except urllib.error.HTTPError as exc:
        message = f"the server at {shown} answered {exc.code} to /api/tags: is it Ollama?"
        raise RuntimeError(message) from None
    # refused, unreachable, timed out, not JSON, or not a URL (http.client.InvalidURL)
    except (OSError, ValueError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise RuntimeError(f"no Ollama server answered at {shown} ({reason})") from None
    return tuple(
        ModelInfo(str(entry["name"]), "llm", _describe(entry)) for entry in tags.get("models", [])
    )


def _describe(entry: dict[str, Any]) -> str:
    details = entry.get("details") or {}
    size = f"{entry['size'] / 1e9:.1f} GB" if entry.get("size") else ""
    facts = (details.get("parameter_size"), details.get("quantization_level"), size)
    return ", ".join(fact for fact in facts if fact)


@hookimpl
def register_providers(register):
    register(
        ProviderSpec(
            id="ollama",
            llm=make_llm,
            key_env=(),
            price_catalog=None,
            models=MODELS,
            default_models={"llm": "llama3.2"},
            settings=OllamaSettings,
            livekit_plugins=("livekit.plugins.openai",),
            discover_models=discover_models,
        )
    )
