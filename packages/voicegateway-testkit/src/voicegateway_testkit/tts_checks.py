"""Helpers for a TTS provider's tests: drive ``voicegateway.inference.TTS`` down the plugin's two
paths (``synthesize()`` and ``stream()``), and check what a failed call left in the ledger.

Imported by tests only, so it may import LiveKit at the top.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from livekit import rtc

import voicegateway
from voicegateway import inference
from voicegateway_testkit.conformance import drive_tts, wait_ended

E = TypeVar("E", bound=BaseException)


async def synthesize(voice: inference.TTS, text: str) -> list[rtc.AudioFrame]:
    """Speak ``text`` in one ``synthesize()`` call and collect the audio."""
    async with voice.synthesize(text) as stream:
        return [event.frame async for event in stream]


async def speak(voice: inference.TTS, pieces: list[str]) -> list[rtc.AudioFrame]:
    """Push ``pieces`` to one stream, as an LLM's tokens arrive, and collect the audio."""
    async with voice.stream() as stream:
        for piece in pieces:
            stream.push_text(piece)
        stream.end_input()
        return [event.frame async for event in stream]


async def failed_call(
    gateway: voicegateway.Gateway,
    voice: inference.TTS,
    call: Awaitable[Any],
    error: type[E],
    *,
    match: str | None = None,
) -> E:
    """Await ``call``, which must raise ``error``; once the call has ended, check it left one
    record, of an error of that class, and return the error."""
    with pytest.raises(error, match=match) as failure:
        await call
    await wait_ended(voice)
    [record] = gateway.records()
    assert (record.status, record.error_class) == ("error", error.__name__)
    return failure.value


async def billed_characters(voice: Any, sent: Callable[[], list[str]]) -> dict[str, float]:
    """A conformance ``bill_tts`` for a provider that bills the characters it is sent: drive one
    ``synthesize()`` call and count the one text ``sent()`` (the server's log) gained."""
    before = len(sent())
    await drive_tts(voice, "Your table for two is booked for seven tonight.")
    [text] = sent()[before:]
    return {"characters": len(text)}


def check_plugin_import_is_light(package: str, plugin: str) -> None:
    """``import <package>.plugin`` (in a fresh interpreter) declares the plugin API and does not
    import the LiveKit plugin module ``plugin``."""
    code = (
        f"import sys, {package}.plugin as p\n"
        "assert p.VOICEGATEWAY_PLUGIN_API == 1\n"
        f"assert {plugin!r} not in sys.modules, 'imported at module level'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
