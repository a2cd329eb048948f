"""DeepgramServer: the Deepgram v1 API that ``livekit.plugins.deepgram`` calls, at ``{url}/v1``.

The plugin takes the full endpoint as ``base_url``, so point it at the route::

    with DeepgramServer(transcript="book a table") as srv:
        stt = deepgram.STT(api_key="test-key", base_url=srv.url + "/v1/listen")
        tts = deepgram.TTS(api_key="test-key", base_url=srv.url + "/v1/speak")

Routes and what they answer:

- ``GET /v1/listen`` (websocket, live transcription). Binary frames are linear16 audio at the
  ``sample_rate``/``channels`` query parameters. After each ``utterance_seconds`` of audio, and
  for what is left on ``{"type": "Finalize"}``, the server sends a final ``Results`` message
  (``is_final`` and ``speech_final`` true) carrying the scripted transcript with evenly spaced
  words, preceded by ``SpeechStarted`` (stamped with the utterance's start) when
  ``vad_events=true``. Speech is announced only when an utterance completes, so audio left over
  after the last one never leaves an agent waiting for the user to stop. ``KeepAlive`` is
  accepted silently. ``CloseStream`` finalizes, sends ``Metadata`` with the total ``duration``
  of audio received, and closes, as Deepgram does. No interim results are sent. The bill of a
  connection is :meth:`DeepgramServer.billed_seconds`: its lifetime, as Deepgram bills
  streaming (livekit/agents#5498).
- ``POST /v1/listen`` (prerecorded): a WAV (or raw linear16) body; JSON ``results`` and
  ``metadata.duration``.
- ``POST /v1/speak``: ``{"text": ...}``; linear16 tone at the ``sample_rate`` query parameter
  (default 24000), length proportional to the text. Only ``encoding=linear16`` is served.
- ``GET /v1/speak`` (websocket, streaming TTS): ``Metadata`` on connect; ``Speak`` buffers text,
  ``Flush`` answers binary audio then ``Flushed``, ``Clear`` drops the buffer (``Cleared``),
  ``Close`` closes.

Every route requires ``Authorization: Token <key>`` (what the plugin sends) and answers 401 with
Deepgram's error body otherwise. Scripted callables receive the
:class:`~voicegateway_testkit.servers.RecordedRequest` of the connection or request.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import time
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from voicegateway_testkit import Scripted, ScriptSource
from voicegateway_testkit.audio import pcm_duration, wav_duration
from voicegateway_testkit.servers.base import RecordedRequest
from voicegateway_testkit.servers.speech import SpeechServer

_CONFIDENCE = 0.99
_ERROR_CODES = {400: "Bad Request", 401: "INVALID_AUTH", 429: "TOO_MANY_REQUESTS"}


class DeepgramServer(SpeechServer):
    """A fake Deepgram API. Options are public attributes a test may change between requests."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        transcript: ScriptSource = "Hello, this is a test.",
        utterance_seconds: float | None = 1.0,
        speech_seconds_per_char: float = 0.05,
    ) -> None:
        super().__init__(api_key=api_key, speech_seconds_per_char=speech_seconds_per_char)
        self.transcript = transcript
        self.utterance_seconds = utterance_seconds

    transcript = Scripted()

    @staticmethod
    async def billed_seconds(listen: RecordedRequest) -> float:
        """What Deepgram bills for one live transcription connection (``GET /v1/listen``): the
        time it was open, as users matched Deepgram's usage reports to (4-5 s more per stream
        than the audio sent, livekit/agents#5498), or the audio it carried when that is longer
        (audio sent faster than real time). Waits for the connection to close, on the caller's
        event loop: the client's side of the close may still need that loop to run."""
        deadline = time.monotonic() + 5.0  # the server's thread notes the close just after it
        while listen.open_seconds is None:
            assert time.monotonic() < deadline, "the connection is still open"
            await asyncio.sleep(0.01)
        rate = int(listen.query.get("sample_rate", 16000))
        channels = int(listen.query.get("channels", 1))
        audio = pcm_duration(listen.body_size, sample_rate=rate, num_channels=channels)
        return max(listen.open_seconds, audio)

    def _routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/listen", self._listen_live),
            web.post("/v1/listen", self._listen_prerecorded),
            web.get("/v1/speak", self._speak_live),
            web.post("/v1/speak", self._speak),
        ]

    def _authenticate(self, request: web.Request) -> str | None:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Token" or not key or (self.api_key is not None and key != self.api_key):
            return "Invalid credentials."
        return None

    def _error(self, status: int, message: str) -> web.Response:
        code = _ERROR_CODES.get(status, "INTERNAL_SERVER_ERROR" if status >= 500 else "Bad Request")
        body = {"err_code": code, "err_msg": message, "request_id": str(uuid.uuid4())}
        return web.json_response(body, status=status)

    # -- live transcription -------------------------------------------------------------------

    async def _listen_live(self, request: web.Request) -> web.StreamResponse:
        record = self._recorded()
        query = request.query
        sample_rate = int(query.get("sample_rate", 16000))
        channels = int(query.get("channels", 1))
        vad_events = query.get("vad_events") == "true"
        model = query.get("model", "nova-3")
        request_id = str(uuid.uuid4())
        received = 0.0  # seconds of audio so far
        start = 0.0  # where the pending utterance begins

        async with self._websocket(request) as ws:

            async def finish_utterance(*, from_finalize: bool) -> None:
                nonlocal start
                text = ""
                if received > start:
                    text = self.transcript.next(record)
                    if vad_events:
                        speech = {"type": "SpeechStarted", "channel": [0, 1], "timestamp": start}
                        await self._send_ws(request, ws, speech)
                results = {
                    "type": "Results",
                    "channel_index": [0, 1],
                    "duration": received - start,
                    "start": start,
                    "is_final": True,
                    "speech_final": True,
                    "channel": {"alternatives": [_alternative(text, start, received)]},
                    "metadata": {
                        "request_id": request_id,
                        "model_info": _model_info(model),
                        "model_uuid": _model_uuid(model),
                    },
                    "from_finalize": from_finalize,
                }
                await self._send_ws(request, ws, results)
                start = received

            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    record.body_size += len(msg.data)
                    received += pcm_duration(
                        len(msg.data), sample_rate=sample_rate, num_channels=channels
                    )
                    every = self.utterance_seconds
                    if every is not None and received - start >= every - 1e-9:
                        await finish_utterance(from_finalize=False)
                elif msg.type == WSMsgType.TEXT:
                    message = msg.json()
                    record.messages.append(message)
                    kind = message.get("type")
                    if kind == "Finalize":
                        await finish_utterance(from_finalize=True)
                    elif kind == "CloseStream":
                        if received > start:
                            await finish_utterance(from_finalize=False)
                        metadata = _metadata(request_id, model, received, channels)
                        await self._send_ws(request, ws, {"type": "Metadata", **metadata})
                        break
        return ws

    # -- prerecorded transcription ------------------------------------------------------------

    async def _listen_prerecorded(self, request: web.Request) -> web.Response:
        record = self._recorded()
        audio = await request.read()
        if audio[:4] == b"RIFF":
            seconds = wav_duration(audio)
        else:
            sample_rate = int(request.query.get("sample_rate", 16000))
            seconds = pcm_duration(len(audio), sample_rate=sample_rate)
        model = request.query.get("model", "nova-3")
        channel: dict[str, Any] = {
            "alternatives": [_alternative(self.transcript.next(record), 0.0, seconds)]
        }
        if request.query.get("detect_language") == "true":
            channel.update(detected_language="en", language_confidence=_CONFIDENCE)
        metadata = _metadata(str(uuid.uuid4()), model, seconds, 1)
        return web.json_response({"metadata": metadata, "results": {"channels": [channel]}})

    # -- speech -------------------------------------------------------------------------------

    async def _speak(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("encoding", "linear16") != "linear16":
            return self._error(400, "DeepgramServer only serves encoding=linear16")
        text = str((self._recorded().json or {}).get("text", ""))
        sample_rate = int(request.query.get("sample_rate", 24000))
        headers = {
            "Content-Type": f"audio/l16;rate={sample_rate};channels=1",
            "dg-request-id": str(uuid.uuid4()),
            "dg-model-name": request.query.get("model", ""),
            "dg-char-count": str(len(text)),
        }
        return await self._stream_audio(
            request, self._tone(text, sample_rate), sample_rate, headers
        )

    async def _speak_live(self, request: web.Request) -> web.StreamResponse:
        record = self._recorded()
        sample_rate = int(request.query.get("sample_rate", 24000))
        model = request.query.get("model", "")
        buffered = ""
        sequence_id = 0
        async with self._websocket(request) as ws:
            metadata = {
                "type": "Metadata",
                "request_id": str(uuid.uuid4()),
                "model_name": model,
                "model_version": "fake",
                "model_uuid": _model_uuid(model),
            }
            await self._send_ws(request, ws, metadata)
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                message = msg.json()
                record.messages.append(message)
                kind = message.get("type")
                if kind == "Speak":
                    buffered += str(message.get("text", ""))
                elif kind == "Flush":
                    speech = self._tone(buffered, sample_rate)
                    async for piece in self._paced_chunks(speech, sample_rate):
                        await self._send_ws(request, ws, piece)
                    flushed = {"type": "Flushed", "sequence_id": sequence_id}
                    await self._send_ws(request, ws, flushed)
                    buffered, sequence_id = "", sequence_id + 1
                elif kind == "Clear":
                    cleared = {"type": "Cleared", "sequence_id": sequence_id}
                    await self._send_ws(request, ws, cleared)
                    buffered, sequence_id = "", sequence_id + 1
                elif kind == "Close":
                    break
        return ws


def _alternative(text: str, start: float, end: float) -> dict[str, Any]:
    """One transcript alternative, its words spread evenly over ``start``..``end``."""
    words = text.split()
    step = (end - start) / len(words) if words else 0.0
    return {
        "transcript": text,
        "confidence": _CONFIDENCE if words else 0.0,
        "words": [
            {
                "word": word.strip(".,!?;:").lower(),
                "start": start + i * step,
                "end": start + (i + 1) * step,
                "confidence": _CONFIDENCE,
                "punctuated_word": word,
            }
            for i, word in enumerate(words)
        ],
    }


def _model_uuid(model: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"deepgram:{model}"))


def _model_info(model: str) -> dict[str, str]:
    return {"name": f"general-{model}", "version": "fake", "arch": model}


def _metadata(request_id: str, model: str, duration: float, channels: int) -> dict[str, Any]:
    return {
        "transaction_key": "deprecated",
        "request_id": request_id,
        "sha256": hashlib.sha256(request_id.encode()).hexdigest(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(),
        "duration": duration,
        "channels": channels,
        "models": [_model_uuid(model)],
        "model_info": {_model_uuid(model): _model_info(model)},
    }
