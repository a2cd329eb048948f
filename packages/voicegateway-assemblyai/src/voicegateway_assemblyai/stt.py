"""``livekit.plugins.assemblyai.STT`` with the bill AssemblyAI sends and clear connection errors.

AssemblyAI bills each streaming session for as long as its websocket is open, idle time included,
and says so when the session ends: ``Termination.session_duration_seconds``. The plugin reports the
audio it sent at each end of turn and only logs that message, so a session's idle time and its
audio after the last turn go unreported. Here the stream reports the difference when the message
arrives, as one more ``RECOGNITION_USAGE`` event through LiveKit's own metrics: the session's
reports add up to what AssemblyAI bills (never less than the audio reported).

A session that ends without its ``Termination`` (the stream closed with ``aclose()``, or the
connection dropped) is billed from the audio VoiceGateway measured, as for every STT.

The plugin lets a refused handshake escape as ``aiohttp.WSServerHandshakeError``, which LiveKit
neither retries nor run-time fallback classifies, and whose repr shows the request's headers (the
key); it becomes ``APIStatusError`` with the HTTP status here (and a connection that cannot be
made, ``APIConnectionError``).

Imports LiveKit: the provider's factory imports this module when it builds a model.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectionError,
    APIConnectOptions,
    APIStatusError,
    stt,
)
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.plugins import assemblyai
from livekit.plugins.assemblyai.stt import SpeechStream


class STT(assemblyai.STT):
    """The plugin's STT, streaming through :class:`SessionBilledStream`."""

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SessionBilledStream:
        stream = SessionBilledStream(
            stt=self,
            conn_options=conn_options,
            opts=dataclasses.replace(self._opts),
            api_key=self._api_key,
            http_session=self.session,
            base_url=self._base_url,
        )
        self._streams.add(stream)
        return stream


class SessionBilledStream(SpeechStream):
    """Reports the part of each session's bill the plugin did not."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._session_reported = 0.0  # audio seconds the plugin reported in this session

    async def _connect_ws(self) -> aiohttp.ClientWebSocketResponse:
        try:
            ws = await super()._connect_ws()
        except aiohttp.WSServerHandshakeError as exc:
            # not chained: its repr shows the request headers, the key among them
            raise APIStatusError(
                f"AssemblyAI refused the streaming session (HTTP {exc.status})",
                status_code=exc.status,
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise APIConnectionError(f"could not reach AssemblyAI at {self._base_url}") from exc
        self._session_reported = 0.0
        return ws

    def _process_stream_event(self, data: dict) -> None:
        unreported = self._speech_duration
        super()._process_stream_event(data)
        kind = data.get("type")
        if kind == "Turn" and self._speech_duration == 0.0:  # the plugin reported at end of turn
            self._session_reported += unreported
        elif kind == "Termination":
            self._report_session(data.get("session_duration_seconds"))

    def _report_session(self, billed: float | None) -> None:
        if billed is not None and billed > self._session_reported:
            usage = stt.RecognitionUsage(audio_duration=billed - self._session_reported)
            self._event_ch.send_nowait(
                stt.SpeechEvent(
                    type=stt.SpeechEventType.RECOGNITION_USAGE,
                    alternatives=[],
                    recognition_usage=usage,
                )
            )
        # the session's bill covers the audio sent after its last turn: never report it again
        self._speech_duration = 0.0
        self._session_reported = 0.0
