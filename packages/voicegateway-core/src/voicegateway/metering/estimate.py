"""Estimates for what a provider bills when LiveKit reports nothing.

An LLM stream closed before its usage chunk (the agent was interrupted) reports 0 prompt tokens,
yet the provider processed, and bills, the whole prompt. We estimate it from the chat context:
about four characters per token for English text, plus a few tokens of framing per message, the
rule of thumb OpenAI and Anthropic document. Records built from it are marked ``estimated``.
"""

from __future__ import annotations

from typing import Any

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4


def prompt_tokens(chat_ctx: Any) -> int:
    """Estimated prompt tokens of a LiveKit ``ChatContext`` (0 when there is none)."""
    if chat_ctx is None:
        return 0
    total = 0
    for item in getattr(chat_ctx, "items", ()):
        text = getattr(item, "text_content", None)
        if text is None:  # function calls and their outputs: count their serialized form
            text = str(getattr(item, "arguments", "") or getattr(item, "output", "") or "")
        total += TOKENS_PER_MESSAGE + -(-len(text) // CHARS_PER_TOKEN)
    return total


_CAP_OPTIONS = ("max_completion_tokens", "max_tokens", "max_output_tokens")


def output_cap(plugin: Any) -> int | None:
    """The output-token cap an LLM plugin was built with (LiveKit plugins keep their options in
    ``_opts``), or None when it sets none: what a budget may reserve for the call's output."""
    opts = getattr(plugin, "_opts", None)
    for name in _CAP_OPTIONS:
        value = getattr(opts, name, None)
        if type(value) is int and value > 0:
            return value
    return None
