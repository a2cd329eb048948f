"""AssemblyAIServer: AssemblyAI's v3 streaming API (Universal-Streaming), which
``livekit.plugins.assemblyai`` calls at ``{base_url}/v3/ws``.

The plugin takes the host as ``base_url`` and adds the path::

    with AssemblyAIServer(transcript="book a table") as srv:
        stt = assemblyai.STT(api_key="test-key", base_url=srv.url,
                             model="universal-streaming-english")

``GET /v3/ws`` (websocket) and what it answers, after AssemblyAI's message sequence:

- On connect, ``Begin`` (session ``id``, ``expires_at``). The query parameters the plugin sends
  (``sample_rate``, ``encoding``, ``speech_model``, ``format_turns``, ``language_detection``,
  ``min_turn_silence``...) are recorded; binary frames are raw audio at ``sample_rate``
  (``pcm_s16le``, or one byte a sample for ``pcm_mulaw``).
- After each ``turn_seconds`` of audio, and for what is pending on ``ForceEndpoint`` or
  ``Terminate``: ``SpeechStarted`` (its ``timestamp`` in ms), one partial ``Turn`` and the final
  ``Turn`` (``end_of_turn: true``, ``utterance``, ``words`` with ms timestamps spread evenly over
  the turn's audio). The unformatted transcript is the scripted text lowercased without
  punctuation; with ``format_turns=true`` a formatted ``Turn`` (``turn_is_formatted: true``) with
  the text as scripted follows. ``language_code`` comes with ``language_detection=true``.
- ``Terminate``: the pending turn, then ``Termination`` with ``audio_duration_seconds`` (audio
  received) and ``session_duration_seconds`` (time the session was open, which AssemblyAI bills),
  both in whole seconds, rounded up; then the server closes (1000). Tests push audio faster than
  real time, so the session counts as lasting at least as long as its audio, as it would for a
  client streaming in real time. Every ``Termination`` sent is kept in
  :attr:`AssemblyAIServer.terminations`.
- ``UpdateConfiguration`` and ``KeepAlive`` are recorded and accepted silently.

The handshake requires ``Authorization: <key>`` (the raw key, as the plugin sends it) and is
refused with HTTP 401 and AssemblyAI's error body (``{"error": ...}``) otherwise, as is any
injected status. Scripted transcripts receive the connection's
:class:`~voicegateway_testkit.servers.RecordedRequest`.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from voicegateway_testkit import Scripted, ScriptSource
from voicegateway_testkit.servers.base import FakeServer

SESSION_LIFETIME = 3 * 3600
"""Seconds until AssemblyAI expires a session (``Begin.expires_at``)."""

_CONFIDENCE = 0.99


class AssemblyAIServer(FakeServer):
    """A fake AssemblyAI streaming API. Options are public attributes a test may change."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        transcript: ScriptSource = "Hello, this is a test.",
        turn_seconds: float | None = 1.0,
    ) -> None:
        super().__init__(api_key=api_key)
        self.transcript = transcript
        self.turn_seconds = turn_seconds
        self.terminations: list[dict[str, Any]] = []

    transcript = Scripted()

    def _routes(self) -> list[web.RouteDef]:
        return [web.get("/v3/ws", self._stream)]

    def _authenticate(self, request: web.Request) -> str | None:
        key = request.headers.get("Authorization", "")
        if not key or (self.api_key is not None and key != self.api_key):
            return "Invalid API key"
        return None

    def _error(self, status: int, message: str) -> web.Response:
        return web.json_response({"error": message}, status=status)

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        record = self._recorded()
        query = request.query
        bytes_per_second = int(query.get("sample_rate", 16000)) * (
            1 if query.get("encoding") == "pcm_mulaw" else 2
        )
        formatted = query.get("format_turns") == "true"
        detect_language = query.get("language_detection") == "true"
        opened = time.monotonic()
        received = 0.0  # seconds of audio so far
        start = 0.0  # where the pending turn begins
        turn_order = 0

        async with self._websocket(request) as ws:

            async def send(message: dict[str, Any]) -> None:
                await self._send_ws(request, ws, message)

            async def end_turn() -> None:
                nonlocal start, turn_order
                if received - start < 1e-9:
                    return
                text = self.transcript.next(record)
                plain = " ".join(_plain(word) for word in text.split())
                turn = {"type": "Turn", "turn_order": turn_order, "turn_is_formatted": False}
                await send({"type": "SpeechStarted", "timestamp": round(start * 1000)})
                partial = {
                    **turn,
                    "end_of_turn": False,
                    "transcript": "",
                    "end_of_turn_confidence": 0.01,
                    "words": _words(plain, start, received, final=False),
                    "utterance": "",
                }
                await send(partial)
                final = {
                    **turn,
                    "end_of_turn": True,
                    "transcript": plain,
                    "end_of_turn_confidence": _CONFIDENCE,
                    "words": _words(plain, start, received, final=True),
                    "utterance": plain,
                }
                if detect_language:
                    final.update(language_code="en", language_confidence=_CONFIDENCE)
                await send(final)
                if formatted:
                    words = _words(text, start, received, final=True)
                    formatted_turn = {"turn_is_formatted": True, "transcript": text, "words": words}
                    await send({**final, **formatted_turn, "utterance": ""})
                start, turn_order = received, turn_order + 1

            await send(
                {
                    "type": "Begin",
                    "id": str(uuid.uuid4()),
                    "expires_at": int(time.time()) + SESSION_LIFETIME,
                }
            )
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    record.body_size += len(msg.data)
                    received += len(msg.data) / bytes_per_second
                    every = self.turn_seconds
                    if every is not None and received - start >= every - 1e-9:
                        await end_turn()
                elif msg.type == WSMsgType.TEXT:
                    message = msg.json()
                    record.messages.append(message)
                    kind = message.get("type")
                    if kind == "ForceEndpoint":
                        await end_turn()
                    elif kind == "Terminate":
                        await end_turn()
                        session = max(time.monotonic() - opened, received)
                        termination = {
                            "type": "Termination",
                            "audio_duration_seconds": _whole_seconds(received),
                            "session_duration_seconds": _whole_seconds(session),
                        }
                        self.terminations.append(termination)
                        await send(termination)
                        break
        return ws


def _plain(word: str) -> str:
    """A word as an unformatted transcript has it: lowercase, no punctuation."""
    return re.sub(r"[^\w']", "", word).lower()


def _words(text: str, start: float, end: float, *, final: bool) -> list[dict[str, Any]]:
    """The words of ``text`` spread evenly over ``start``..``end`` seconds, in milliseconds."""
    words = text.split()
    step = (end - start) / len(words) if words else 0.0
    return [
        {
            "start": round((start + i * step) * 1000),
            "end": round((start + (i + 1) * step) * 1000),
            "text": word,
            "confidence": _CONFIDENCE,
            "word_is_final": final,
        }
        for i, word in enumerate(words)
    ]


def _whole_seconds(seconds: float) -> int:
    """AssemblyAI reports durations in whole seconds; a second begun is counted."""
    return math.ceil(seconds - 1e-6)
