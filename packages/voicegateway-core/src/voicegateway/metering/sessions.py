"""Which conversation a call belongs to: the session id on every usage record.

In order: the LiveKit room's sid when the call runs inside a job with a room; else the
``AgentSession`` the call runs for (console mode, tests, anything without a room), whose id is
the one set by code where the session first called (``inference.session("call-123")``) or a new
one, kept on the session so all its calls share it; else the id set by code alone.

Finding the ``AgentSession`` leans on LiveKit 1.8's private context variables: LLM and TTS calls
run in speech tasks that carry the ``AgentActivity``; the STT stream runs in the pipeline task
that carries the ``_STTPipeline``, created with the session's ``_is_closing``. A few context
variable reads per call (well under a microsecond); nothing per token or frame.
"""

from __future__ import annotations

import contextvars
from typing import Any

from voicegateway.records import new_id

SESSION_ATTR = "_voicegateway_session_id"
"""Set on an ``AgentSession`` the first time one of its calls is metered."""

_code_session: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "voicegateway_session", default=None
)
_probes: tuple[Any, ...] | None = None  # LiveKit's context variables, looked up once


class SessionScope:
    """A session id set by code for this task and the tasks it starts from now on; as a context
    manager, restored on exit."""

    def __init__(self, session_id: str) -> None:
        given: object = session_id  # a caller without a type checker may pass anything
        if not isinstance(given, str) or not given.strip():
            raise ValueError(f"a session id is a non-empty string, not {session_id!r}")
        self.session_id = session_id
        self._token = _code_session.set(session_id)

    def __enter__(self) -> SessionScope:
        return self

    def __exit__(self, *exc: object) -> None:
        _code_session.reset(self._token)


def current_session() -> str | None:
    """The session id set by code in this context, if any."""
    return _code_session.get()


def identity() -> tuple[str | None, str | None, str | None]:
    """(job id, room name, session id) of the call about to start in this context."""
    job_id = room = None
    ctx = _job_context()
    if ctx is not None:
        job = ctx.job
        job_id = job.id
        room = job.room.name if job.room else None
        room_sid = getattr(job.room, "sid", None) or None
        if room_sid:
            return job_id, room, room_sid
    agent_session = _agent_session()
    if agent_session is None:
        return job_id, room, _code_session.get()
    session_id = getattr(agent_session, SESSION_ATTR, None)
    if session_id is None:
        session_id = _code_session.get() or new_id()
        setattr(agent_session, SESSION_ATTR, session_id)
    return job_id, room, session_id


def _job_context() -> Any:
    probes = _probes if _probes is not None else _load_probes()
    return probes[0](required=False) if probes[0] is not None else None


def _agent_session() -> Any:
    """The ``AgentSession`` this context runs for, or None (no LiveKit, or not inside one)."""
    _, activity_var, pipeline_var = _probes if _probes is not None else _load_probes()
    if activity_var is not None:
        activity = activity_var.get(None)
        if activity is not None:
            return getattr(activity, "_session", None)
    if pipeline_var is not None:
        pipeline = pipeline_var.get(None)
        if pipeline is not None:
            return getattr(getattr(pipeline, "_is_closing", None), "__self__", None)
    return None


def _load_probes() -> tuple[Any, ...]:
    global _probes
    try:
        from livekit.agents import get_job_context
    except ImportError:  # metering without LiveKit (tests of the chain alone)
        _probes = (None, None, None)
        return _probes
    try:
        from livekit.agents.voice.agent_activity import _AgentActivityContextVar as activity
        from livekit.agents.voice.audio_recognition import _STTPipelineContextVar as pipeline
    except ImportError:  # another LiveKit layout: sessions are then told by room or code only
        _probes = (get_job_context, None, None)
        return _probes
    _probes = (get_job_context, activity, pipeline)
    return _probes
