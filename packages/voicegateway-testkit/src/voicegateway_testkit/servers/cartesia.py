"""CartesiaServer: the Cartesia TTS API that ``livekit.plugins.cartesia`` calls, at ``{url}``.

The plugin takes the API root as ``base_url`` and adds the paths::

    with CartesiaServer() as srv:
        tts = cartesia.TTS(api_key="test-key", base_url=srv.url)

Routes and what they answer:

- ``POST /tts/bytes``: ``{"model_id", "transcript", "voice", "output_format", ...}``; the raw
  ``pcm_s16le`` tone at ``output_format.sample_rate``, length proportional to the transcript,
  streamed in 100 ms chunks.
- ``GET /tts/websocket`` (websocket): generation requests carry a ``context_id`` and a
  ``transcript``; each one is answered as Cartesia does, with ``chunk`` messages (base64 audio in
  ``data``) and, when ``add_timestamps`` is set, a ``timestamps`` message with its words. A
  request with ``continue`` false (the default) ends its context with a ``done`` message. A
  ``cancel`` request drops its context. Requests for other formats than raw ``pcm_s16le`` get
  an ``error`` message, as do requests missing ``model_id``, ``voice`` or ``output_format``.

Every route requires a key: the ``X-API-Key`` header (what the plugin sends), ``Authorization:
Bearer <key>``, or the ``api_key`` query parameter; and an API version: the ``Cartesia-Version``
header, or the ``cartesia_version`` query parameter on the websocket. Errors are Cartesia's:
plain ``Title: Message`` text before version ``2026-03-01``, its JSON error object from then on.

Cartesia bills every TTS endpoint about one credit per character of the transcripts it speaks:
:meth:`CartesiaServer.transcripts` returns them, one per generation (a websocket context's
transcripts joined), for tests to compare with what was metered.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from voicegateway_testkit.audio import pcm_duration
from voicegateway_testkit.servers.base import RecordedRequest
from voicegateway_testkit.servers.speech import SpeechServer

JSON_ERRORS_SINCE = "2026-03-01"
"""The first ``Cartesia-Version`` whose errors are JSON objects rather than plain text."""

_ERROR_TITLES = {
    400: ("invalid_request", "Invalid request"),
    401: ("invalid_api_key", "Invalid API key"),
    402: ("insufficient_credits", "Insufficient credits"),
    429: ("concurrency_limited", "Too many concurrent requests"),
}


class CartesiaServer(SpeechServer):
    """A fake Cartesia API. Options are public attributes a test may change between requests.

    ``chunk_interval`` paces the audio (seconds between chunks), so a test can interrupt a
    generation while it is still being spoken.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        speech_seconds_per_char: float = 0.05,
        chunk_interval: float = 0.0,
    ) -> None:
        super().__init__(
            api_key=api_key,
            speech_seconds_per_char=speech_seconds_per_char,
            chunk_interval=chunk_interval,
        )
        self._spoken: dict[tuple[int, str], str] = {}

    def transcripts(self) -> list[str]:
        """The transcripts the server spoke, what Cartesia bills by: one per ``/tts/bytes``
        request and one per websocket context (its requests' transcripts joined), in order.
        Invalid requests and requests to a cancelled context are not spoken."""
        return list(self._spoken.values())

    def _spoke(self, record: RecordedRequest, context_id: str, transcript: str) -> None:
        key = (id(record), context_id)
        self._spoken[key] = self._spoken.get(key, "") + transcript

    def _routes(self) -> list[web.RouteDef]:
        return [
            web.post("/tts/bytes", self._bytes),
            web.get("/tts/websocket", self._websocket_tts),
        ]

    def _authenticate(self, request: web.Request) -> str | None:
        scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
        key = (
            request.headers.get("X-API-Key")
            or (bearer if scheme == "Bearer" else "")
            or request.query.get("api_key", "")
        )
        if not key:
            return "No API key provided. Pass it in the X-API-Key header."
        if self.api_key is not None and key != self.api_key:
            return "The API key is invalid."
        return None

    def _error(self, status: int, message: str) -> web.Response:
        record = self._recorded()
        code, title = _ERROR_TITLES.get(status, ("internal_server_error", "Internal server error"))
        if _version(record) >= JSON_ERRORS_SINCE:
            body = {
                "error_code": code,
                "title": title,
                "message": message,
                "request_id": str(uuid.uuid4()),
            }
            return web.json_response(body, status=status)
        return web.Response(text=f"{title}: {message}", status=status)

    # -- bytes --------------------------------------------------------------------------------

    async def _bytes(self, request: web.Request) -> web.StreamResponse:
        record = self._recorded()
        body = record.json if isinstance(record.json, dict) else {}
        if problem := _invalid(record, body):
            return self._error(400, problem)
        sample_rate = int(body["output_format"].get("sample_rate", 24000))
        transcript = str(body.get("transcript", ""))
        self._spoke(record, "", transcript)
        headers = {"Content-Type": "audio/pcm", "X-Request-Id": str(uuid.uuid4())}
        return await self._stream_audio(
            request, self._tone(transcript.strip(), sample_rate), sample_rate, headers
        )

    # -- websocket ----------------------------------------------------------------------------

    async def _websocket_tts(self, request: web.Request) -> web.StreamResponse:
        record = self._recorded()
        if not _version(record):
            return self._error(400, "Missing cartesia_version query parameter.")
        cancelled: set[str] = set()
        async with self._websocket(request) as ws:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                message = msg.json()
                record.messages.append(message)
                context_id = str(message.get("context_id") or uuid.uuid4())
                if message.get("cancel"):
                    cancelled.add(context_id)
                elif context_id not in cancelled:
                    await self._generate(request, ws, record, message, context_id)
        return ws

    async def _generate(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        record: RecordedRequest,
        message: dict[str, Any],
        context_id: str,
    ) -> None:
        """Answer one generation request of a context: its audio, timestamps, and ``done`` when
        no continuation follows."""
        if problem := _invalid(record, message):
            error = {
                "type": "error",
                "done": True,
                "status_code": 400,
                "error": f"Invalid request: {problem}",
                "context_id": context_id,
            }
            await self._send_ws(request, ws, error)
            return
        transcript = str(message.get("transcript", ""))
        self._spoke(record, context_id, transcript)
        sample_rate = int(message["output_format"].get("sample_rate", 24000))
        pcm = self._tone(transcript.strip(), sample_rate)
        async for piece in self._paced_chunks(pcm, sample_rate):
            chunk = {
                "type": "chunk",
                "data": base64.b64encode(piece).decode(),
                "done": False,
                "status_code": 206,
                "step_time": 10,
                "context_id": context_id,
            }
            await self._send_ws(request, ws, chunk)
        words = transcript.split()
        if message.get("add_timestamps") and words:
            step = pcm_duration(len(pcm), sample_rate=sample_rate) / len(words)
            timestamps = {
                "type": "timestamps",
                "done": False,
                "status_code": 206,
                "context_id": context_id,
                "word_timestamps": {
                    "words": words,
                    "start": [i * step for i in range(len(words))],
                    "end": [(i + 1) * step for i in range(len(words))],
                },
            }
            await self._send_ws(request, ws, timestamps)
        if not message.get("continue"):
            done = {"type": "done", "done": True, "status_code": 206, "context_id": context_id}
            await self._send_ws(request, ws, done)


def _version(record: RecordedRequest) -> str:
    return record.query.get("cartesia_version") or record.headers.get("Cartesia-Version", "")


def _invalid(record: RecordedRequest, body: dict[str, Any]) -> str | None:
    """Why a generation request cannot be served, or None."""
    if not _version(record):
        return "Missing Cartesia-Version header."
    missing = [f for f in ("model_id", "voice", "output_format") if not body.get(f)]
    if missing:
        return f"Missing required fields: {', '.join(missing)}."
    output_format = body["output_format"]
    if (output_format.get("container"), output_format.get("encoding")) != ("raw", "pcm_s16le"):
        return "CartesiaServer only serves the raw container with pcm_s16le encoding."
    return None
