"""Registers the ``ollama`` provider: a local Ollama server, reached through its OpenAI-compatible
API with ``livekit.plugins.openai.LLM.with_ollama``.

``providers.ollama.base_url`` is that API's root (``http://localhost:11434/v1``, the default). No
key: Ollama ignores the ``Authorization`` header. A local engine costs nothing (``price_catalog``
is None, so records are priced at $0 unless voicegw.yaml sets a rate under ``pricing:``); records
still carry the prompt and completion tokens from the usage chunk Ollama streams last.

``voicegw providers`` also lists the models the configured server has pulled (``/api/tags``).
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from voicegateway.hookspecs import hookimpl
from voicegateway.providers import BuildRequest, ModelInfo, ProviderSpec

VOICEGATEWAY_PLUGIN_API = 1

DEFAULT_BASE_URL = "http://localhost:11434/v1"

MODELS = (
    ModelInfo("llama3.2", "llm", "any pulled model works: ollama/<name>[:<tag>]"),
    ModelInfo("llama3.1", "llm"),
    ModelInfo("qwen2.5", "llm"),
    ModelInfo("mistral", "llm"),
    ModelInfo("gemma3", "llm"),
)


def make_llm(request: BuildRequest) -> Any:
    from livekit.plugins import openai

    return openai.LLM.with_ollama(
        model=request.model, base_url=request.base_url or DEFAULT_BASE_URL, **request.extra
    )


def server_root(base_url: str | None) -> str:
    """The Ollama server for an OpenAI-compatible ``base_url``: its native API (``/api/tags``)
    lives beside ``/v1``, at the root."""
    parts = urllib.parse.urlsplit(base_url or DEFAULT_BASE_URL)
    path = parts.path.rstrip("/").removesuffix("/v1")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", "")).rstrip("/")


def discover_models(settings: Any, timeout: float) -> tuple[ModelInfo, ...]:
    """The models the configured server has pulled, from its ``GET /api/tags``."""
    root = server_root(getattr(settings, "base_url", None))
    # urllib neither sends a URL's user:password (httpx, which the LLM uses, does) nor keeps it
    # out of its errors (a URL without a port: InvalidURL quotes "password@host" as the port):
    # it is given the URL without them, and gets them as the header httpx would send.
    shown = without_credentials(root)
    try:
        request = urllib.request.Request(f"{shown}/api/tags")
        if authorization := _basic_auth(root):
            request.add_unredirected_header("Authorization", authorization)
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


def _basic_auth(url: str) -> str | None:
    """The ``Authorization`` header for ``url``'s ``user:password@`` part, None without one."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return None
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def without_credentials(url: str) -> str:
    """``url`` without a ``user:password@`` part, for messages."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


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
            livekit_plugins=("livekit.plugins.openai",),
            discover_models=discover_models,
        )
    )
