"""Whether code under test holds the event loop: :func:`measure_loop_gaps`.

An engine run in process, or a rate limit that waits, must leave the loop free for the agent's
audio meanwhile. A task that asks to wake every few milliseconds shows it: the longest gap between
two of its wake-ups is how long the loop was held.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")


class LoopGaps(NamedTuple, Generic[T]):
    """What :func:`measure_loop_gaps` saw: ``result`` of the work, ``longest_gap`` between two
    ticks (infinite when the work ended before the first tick) and ``took``, the work's seconds."""

    result: T
    longest_gap: float
    took: float


async def measure_loop_gaps(work: Awaitable[T], *, tick: float = 0.01) -> LoopGaps[T]:
    """Await ``work`` while a task asks to wake every ``tick`` seconds, and measure the gaps."""
    loop = asyncio.get_running_loop()
    gaps: list[float] = []

    async def ticker() -> None:
        last = loop.time()
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    started = loop.time()
    try:
        result = await work
    finally:
        task.cancel()
    return LoopGaps(result, max(gaps, default=float("inf")), loop.time() - started)
