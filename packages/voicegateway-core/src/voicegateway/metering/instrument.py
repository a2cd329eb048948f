"""The LiveKit side of metering: ties a plugin instance's events to VoiceGateway calls.

A wrapper (``voicegateway.inference.STT`` and friends) opens a :class:`Call` for each chat,
recognition or synthesis, and creates the plugin's stream inside :meth:`Instrument.scope`. LiveKit
starts a stream's tasks in its constructor, and asyncio tasks copy the current context, so when the
plugin later emits ``metrics_collected`` from one of those tasks, the context variable still names
the call. Counting therefore costs one record per report and nothing per audio frame or token.
The call ends when the stream's metrics task finishes, which LiveKit runs until the stream closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from voicegateway.metering.middleware import MiddlewareChain
from voicegateway.metering.records import Call, UsageRecord
from voicegateway.providers import Meter

log = logging.getLogger("voicegateway.metering")
S = TypeVar("S")

_current_call: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "voicegateway_call", default=None
)


class Instrument:
    """Meters one plugin instance on behalf of the wrapper that owns it.

    Every ``metrics_collected`` and ``error`` event of the plugin is re-emitted on the wrapper, so
    ``AgentSession`` (which listens on the wrapper) sees them exactly once; the metrics carry the
    VoiceGateway provider id and model instead of the host name LiveKit reports for
    OpenAI-compatible clients.
    """

    def __init__(
        self,
        owner: Any,
        inner: Any,
        *,
        modality: str,
        provider: str,
        model: str,
        project: str,
        chain: MiddlewareChain,
        meter: Meter,
        fallback_from: str | None = None,
    ) -> None:
        self._owner = owner
        self._modality = modality
        self._provider = provider
        self._model = model
        self._project = project
        self._chain = chain
        self._meter = meter
        self._fallback_from = fallback_from
        self._open: set[str] = set()
        inner.on("metrics_collected", self._on_metrics)
        inner.on("error", self._on_error)

    # -- calls -------------------------------------------------------------------------------

    def _new_call(self) -> Call:
        return Call(
            self._modality,
            self._provider,
            self._model,
            self._project,
            fallback_from=self._fallback_from,
        )

    def open_call(self) -> Call:
        """Start a call: the chain's start steps run now and may refuse it by raising."""
        call = self._new_call()
        self._chain.start(call)
        self._open.add(call.call_id)
        return call

    @contextlib.contextmanager
    def scope(self, call: Call) -> Iterator[None]:
        """Make ``call`` current while the plugin's stream (and its tasks) are created."""
        token = _current_call.set(call)
        try:
            yield
        finally:
            _current_call.reset(token)

    def stream_call(self, create: Callable[[], S]) -> S:
        """Open a call, create the plugin's stream inside it, and end the call with the stream."""
        call = self.open_call()
        with self.scope(call):
            stream = create()
        # ChunkedStream names its main task differently from the other streams
        main_task = getattr(stream, "_task", None) or getattr(stream, "_synthesize_task", None)
        self._end_when_done(call, stream, main_task)
        return stream

    def _end_when_done(self, call: Call, stream: Any, main_task: asyncio.Task | None) -> None:
        """End ``call`` once ``stream``'s metrics task has run out (the stream is closed)."""
        metrics_task = getattr(stream, "_metrics_task", None)
        if metrics_task is None:
            # SynthesizeStream starts its metrics task on the first push_text, outside our scope.
            # Start it now, inside the scope, so its reports carry this call.
            with self.scope(call):
                metrics_task = asyncio.create_task(
                    stream._metrics_monitor_task(stream._monitor_aiter), name="TTS._metrics_task"
                )
            stream._metrics_task = metrics_task
        metrics_task.add_done_callback(lambda _: self.end(call, main_task))

    def end(
        self, call: Call, task: asyncio.Future | None = None, error: BaseException | None = None
    ) -> None:
        """End ``call``, taking its status from the stream's main task or the error raised."""
        if task is not None and task.done():
            if task.cancelled():
                call.status = "cancelled"
            else:
                error = task.exception()
        if error is not None:
            call.status = "cancelled" if isinstance(error, asyncio.CancelledError) else "error"
            call.error_class = type(error).__name__
        self._open.discard(call.call_id)
        self._chain.end(call)

    # -- plugin events -----------------------------------------------------------------------

    def _on_metrics(self, metrics: Any) -> None:
        try:
            self._record(metrics)
        except Exception:
            log.exception("could not meter a %s report from %s", self._modality, self._provider)
        self._owner.emit("metrics_collected", _relabel(metrics, self._provider, self._model))

    def _record(self, metrics: Any) -> None:
        call = _current_call.get()
        adhoc = call is None or call.call_id not in self._open
        if adhoc:
            # A report outside any call we opened (LiveKit internals we did not anticipate):
            # still recorded, as a call of its own, never lost.
            call = self._new_call()
            with contextlib.suppress(Exception):
                self._chain.start(call)
        record = UsageRecord.for_call(call)
        if self._meter(metrics, record):
            self._chain.usage(call, record)
        if adhoc:
            self._chain.end(call)

    def _on_error(self, error: Any) -> None:
        self._owner.emit("error", error)


def _relabel(metrics: Any, provider: str, model: str) -> Any:
    metadata = getattr(metrics, "metadata", None)
    if metadata is None:
        return metrics
    return metrics.model_copy(
        update={
            "metadata": metadata.model_copy(
                update={"model_provider": provider, "model_name": model}
            )
        }
    )
