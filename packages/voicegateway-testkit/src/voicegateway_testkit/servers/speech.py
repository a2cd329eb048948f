"""SpeechServer: what every fake text-to-speech API shares.

A fake speaks a 16-bit mono tone whose length is proportional to the text
(``speech_seconds_per_char``), in 100 ms chunks, optionally paced by ``chunk_interval`` so a
test can interrupt a generation while it is still being spoken.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

from aiohttp import web

from voicegateway_testkit.audio import pcm_tone
from voicegateway_testkit.servers.base import FakeServer, chunks


class SpeechServer(FakeServer):
    """Base class of the fakes that synthesize speech. Options are public attributes."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        speech_seconds_per_char: float = 0.05,
        chunk_interval: float = 0.0,
    ) -> None:
        super().__init__(api_key=api_key)
        self.speech_seconds_per_char = speech_seconds_per_char
        self.chunk_interval = chunk_interval

    def _tone(self, text: str, sample_rate: int) -> bytes:
        """The audio spoken for ``text``: ``speech_seconds_per_char`` per character."""
        return pcm_tone(len(text) * self.speech_seconds_per_char, sample_rate=sample_rate)

    async def _paced_chunks(self, audio: bytes, sample_rate: int) -> AsyncIterator[bytes]:
        """``audio`` in 100 ms chunks at ``sample_rate``, ``chunk_interval`` apart."""
        for piece in chunks(audio, sample_rate // 10 * 2):
            yield piece
            if self.chunk_interval:
                await asyncio.sleep(self.chunk_interval)

    async def _stream_audio(
        self, request: web.Request, audio: bytes, sample_rate: int, headers: Mapping[str, str]
    ) -> web.StreamResponse:
        """Answer an HTTP request with ``audio`` as a streamed body of paced chunks."""
        resp = web.StreamResponse(headers=headers)
        await resp.prepare(request)
        async for piece in self._paced_chunks(audio, sample_rate):
            await self._write(request, resp, piece)
        await resp.write_eof()
        return resp
