"""The middleware chain every call passes.

A middleware sees three moments of a call, in chain order:

- ``on_call_start(call)``: before the provider is contacted. Raising here refuses the call (the
  budget and rate-limit steps use this); the exception reaches the agent.
- ``on_usage(call, record)``: each time the provider's plugin reports billable usage. Steps
  annotate the record (job ids, latency, cost) and the last one stores it.
- ``on_call_end(call)``: once, when the call's stream is finished, with ``call.status`` set.

Steps nest, as a web framework's middleware stack does: a call enters them in order and leaves
them in reverse. A step that refuses a call (raises in ``on_call_start``) unwinds the steps that
had already admitted it: their ``on_call_end`` runs, last admitted first, so a budget reservation
taken before a later step refused is given back. A chain is itself a step: one nested in another
admits and unwinds its own steps the same way.

Errors raised in ``on_usage``/``on_call_end`` are logged and swallowed: metering never breaks a
conversation. The chain runs on the agent's event loop, so steps must not block.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence

from voicegateway.metering import sessions
from voicegateway.records import Call, UsageRecord

log = logging.getLogger("voicegateway.metering")


class Middleware:
    """Base class: override the steps you need. ``name`` identifies the step in logs."""

    name = "middleware"

    def on_call_start(self, call: Call) -> None:
        """Before the provider is contacted; raise to refuse the call."""

    def on_usage(self, call: Call, record: UsageRecord) -> None:
        """A billable report from the provider's plugin."""

    def on_call_end(self, call: Call) -> None:
        """The call is over; ``call.status`` is ok, error or cancelled."""


class MiddlewareChain(Middleware):
    """An ordered, immutable list of middlewares, nested (see the module docstring), with the
    three entry points a call's lifecycle uses: :meth:`start`, :meth:`usage`, :meth:`end`.

    Each moment calls only the steps that override its method: the others' are no-ops."""

    name = "chain"

    def __init__(self, middlewares: Iterable[Middleware]) -> None:
        self._steps: tuple[Middleware, ...] = tuple(middlewares)
        self._starting = _overriding(self._steps, "on_call_start")
        self._using = _overriding(self._steps, "on_usage")
        self._ending = _overriding(self._steps[::-1], "on_call_end")

    @property
    def steps(self) -> Sequence[Middleware]:
        return self._steps

    def start(self, call: Call) -> None:
        """Admit ``call`` step by step; a refusal unwinds what admitted it and ends the call
        (``refused``), then reaches the caller."""
        try:
            self.on_call_start(call)
        except BaseException as exc:
            call.status, call.error_class, call.ended = "refused", type(exc).__name__, True
            raise

    def usage(self, call: Call, record: UsageRecord) -> None:
        call.records += 1
        self.on_usage(call, record)

    def end(self, call: Call) -> None:
        if call.ended:
            return
        call.ended = True
        self.on_call_end(call)

    # -- as a step of another chain ---------------------------------------------------------

    def on_call_start(self, call: Call) -> None:
        step = None
        try:
            for step in self._starting:
                step.on_call_start(call)
        except BaseException:
            self._unwind(call, step)
            raise

    def on_usage(self, call: Call, record: UsageRecord) -> None:
        for step in self._using:
            try:
                step.on_usage(call, record)
            except Exception:
                log.exception("middleware %s failed on a usage record; continuing", step.name)

    def on_call_end(self, call: Call) -> None:
        _leave(self._ending, call)

    def _unwind(self, call: Call, refused_by: Middleware | None) -> None:
        """``on_call_end`` of the steps before ``refused_by``, last first."""
        entered = next(i for i, step in enumerate(self._steps) if step is refused_by)
        _leave(_overriding(self._steps[:entered][::-1], "on_call_end"), call)


def _leave(steps: Sequence[Middleware], call: Call) -> None:
    for step in steps:
        try:
            step.on_call_end(call)
        except Exception:
            log.exception("middleware %s failed at the end of a call; continuing", step.name)


def _overriding(steps: Sequence[Middleware], method: str) -> tuple[Middleware, ...]:
    base = getattr(Middleware, method)
    return tuple(step for step in steps if getattr(type(step), method, base) is not base)


class SessionCorrelation(Middleware):
    """Stamps the LiveKit job id and room, and the session id: the room's, else the
    ``AgentSession``'s, else one set by code (see :mod:`voicegateway.metering.sessions`)."""

    name = "session"

    def on_call_start(self, call: Call) -> None:
        # records copy them from the call (UsageRecord.for_call), all made after this step ran
        call.job_id, call.room, call.session_id = sessions.identity()


class Latency(Middleware):
    """Fills a record's duration, from the start of its call, where the plugin gave none
    (streamed STT reports no duration of its own)."""

    name = "latency"

    def on_usage(self, call: Call, record: UsageRecord) -> None:
        if record.duration_ms is None:
            record.duration_ms = (time.perf_counter() - call.started) * 1000.0


class Recording(Middleware):
    """The last step: hands each record to a sink (the spool, or an in-memory log)."""

    name = "recording"

    def __init__(self, sink) -> None:
        self._sink = sink

    def on_usage(self, call: Call, record: UsageRecord) -> None:
        self._sink.append(record)
