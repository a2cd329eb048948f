"""``livekit.plugins.deepgram.STT`` whose streams are billed for their connections' lifetime.

Deepgram bills a live transcription connection for as long as it is open: users comparing
LiveKit's reported audio with Deepgram's usage reports for the same key found a fixed 4-5 s more
billed per stream (120.6 s reported, 125.35 s billed; 20.15 s, 24.25 s: livekit/agents#5498).
``livekit-plugins-deepgram`` 1.8.9 reports the frames it sends and, at close, the rest of the
connection's lifetime (livekit/agents#5506). Two things keep that from being the bill:

- its lifetime runs until the plugin's keepalive task notices the close, up to 5 s after
  Deepgram closed the connection (it answers ``CloseStream`` by closing), a tail Deepgram does
  not bill. Here the lifetime is measured from the handshake to the close itself: the first
  close message received, or the plugin closing the socket;
- that report is lost when ``aclose()`` cancels the metrics task before it is read. Here the
  rest of the lifetime is also handed to the call (:func:`voicegateway.plugin_api.expect_audio`),
  so the call's closing record bills it if no report does.

Audio sent faster than real time (a file, a test) is billed as sent: the reports of the frames
are never reduced. Imports LiveKit: the provider's factory imports this module when it builds
a model.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.plugins import deepgram
from livekit.plugins.deepgram.stt import SpeechStream

from voicegateway.plugin_api import expect_audio

_CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)


class STT(deepgram.STT):
    """The plugin's STT, streaming through :class:`LifetimeBilledStream`."""

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> LifetimeBilledStream:
        stream = LifetimeBilledStream(
            stt=self,
            conn_options=conn_options,
            opts=self._sanitize_options(language=language),
            api_key=self._api_key,
            http_session=self._ensure_session(),
            base_url=self._opts.endpoint_url,
        )
        self._streams.add(stream)
        return stream


class LifetimeBilledStream(SpeechStream):
    """Reports each connection's lifetime, measured at the socket (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # the frames' reports go through _on_audio_sent; LiveKit's own call of
        # _on_audio_duration_report is then only its close-time remainder
        self._audio_duration_collector._callback = self._on_audio_sent
        self._sent = 0.0  # seconds of audio reported on the current connection
        self._opened: float | None = None
        self._closed: float | None = None

    async def _connect_ws(self) -> aiohttp.ClientWebSocketResponse:
        ws = await super()._connect_ws()
        self._opened, self._closed, self._sent = time.perf_counter(), None, 0.0
        return _Watched(ws, self._note_closed)  # type: ignore[return-value]

    def _note_closed(self) -> None:
        if self._closed is None:
            self._closed = time.perf_counter()

    def _on_audio_sent(self, duration: float) -> None:
        self._sent += duration
        super()._on_audio_duration_report(duration)

    def _on_audio_duration_report(self, duration: float) -> None:
        """LiveKit's close-time remainder, replaced by the lifetime measured at the socket."""
        if self._opened is None:
            return
        self._note_closed()
        remainder = (self._closed - self._opened) - self._sent  # type: ignore[operator]
        self._opened = None
        if remainder > 0:
            expect_audio(remainder)
            super()._on_audio_duration_report(remainder)


class _Watched:
    """The plugin's websocket, noting the moment it closes."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, closed: Any) -> None:
        self._ws, self._closed = ws, closed

    async def receive(self, *args: Any, **kwargs: Any) -> aiohttp.WSMessage:
        msg = await self._ws.receive(*args, **kwargs)
        if msg.type in _CLOSED or msg.type == aiohttp.WSMsgType.ERROR:
            self._closed()
        return msg

    async def close(self, *args: Any, **kwargs: Any) -> bool:
        try:
            return await self._ws.close(*args, **kwargs)
        finally:
            self._closed()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)
