"""``PolicyWorker``: the one thread of a job process that talks to the policy state.

The agent's event loop never waits on SQLite (another process may hold its lock, even be stopped
in the middle of a transaction): admission there is a dict check against a local lease, and
whatever needs the shared state (a lease refill, settling spend, a rate-limit decision) is a task
for this thread. A caller that can await (``fallback.serve``) awaits the task's future; one that
cannot waits at most :data:`SYNC_WAIT_ON_LOOP` on an event loop, or :data:`STATE_TIMEOUT` off one.

Periodic work (``every``) runs every ``interval`` seconds, and soon after :meth:`wake`; submitted
tasks run as soon as they arrive.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextvars
import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger("voicegateway.policies")

STATE_TIMEOUT = 2.0
"""The longest anything waits for the policy state (SQLite's busy timeout, an awaited task)."""

SYNC_WAIT_ON_LOOP = 0.0015
"""How long a caller on an event loop that cannot await (an ``attach()``-ed plugin) waits for a
policy task before refusing: below the 2 ms an agent's loop may be held."""


def on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class PolicyWorker:
    """A daemon thread running submitted tasks in order, and periodic tasks every ``interval``.
    Restarted in a forked child on first use."""

    def __init__(self, *, interval: float = 0.25, name: str = "voicegateway-policies") -> None:
        self.interval = interval
        self._name = name
        self._tasks: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future] | None]
        self._tasks = queue.SimpleQueue()
        self._periodic: list[Callable[[], None]] = []
        self._thread: threading.Thread | None = None
        self._pid = -1
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._tick_now = False
        _LIVE.add(self)

    def every(self, task: Callable[[], None]) -> None:
        """Run ``task`` every ``interval`` (and on :meth:`wake`) in the worker thread."""
        self._periodic.append(task)
        self._start()

    def submit(self, task: Callable[[], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._tasks.put((task, future))
        self._start()
        self._wake.set()
        return future

    def wake(self) -> None:
        """Run the periodic tasks soon (a fresh snapshot), not waiting for the interval."""
        self._tick_now = True
        self._start()
        self._wake.set()

    def call(self, task: Callable[[], Any], *, timeout: float = STATE_TIMEOUT) -> Any:
        """Run ``task`` in the worker and wait for it (for the CLI, tests and exit; never on an
        event loop)."""
        if threading.current_thread() is self._thread:
            return task()
        return self.submit(task).result(timeout)

    def _start(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        next_tick = time.monotonic() + self.interval
        while True:
            self._wake.wait(max(0.0, next_tick - time.monotonic()))
            self._wake.clear()
            while True:
                try:
                    item = self._tasks.get_nowait()
                except queue.Empty:
                    break
                task, future = item  # type: ignore[misc]
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(task())
                except BaseException as exc:
                    future.set_exception(exc)
            if self._tick_now or time.monotonic() >= next_tick:
                self._tick_now = False
                for periodic in list(self._periodic):
                    try:
                        periodic()
                    except Exception:
                        log.exception(
                            "policy worker: %s failed", getattr(periodic, "__name__", "?")
                        )
                next_tick = time.monotonic() + self.interval

    def drain(self, timeout: float = STATE_TIMEOUT) -> None:
        """Run the periodic tasks once more and wait for them (at exit)."""
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            for periodic in list(self._periodic):
                periodic()
            return
        future = self.submit(lambda: None)
        try:
            future.result(timeout)
            self.submit(lambda: [p() for p in list(self._periodic)]).result(timeout)
        except Exception:
            log.warning("policy worker: could not write the last settled spend at exit")


_LIVE: weakref.WeakSet[PolicyWorker] = weakref.WeakSet()
_EXIT_HOOKS: list[Callable[[], None]] = []


def at_exit(hook: Callable[[], None]) -> None:
    """Run ``hook`` at interpreter exit, before the workers drain (leases are given back)."""
    _EXIT_HOOKS.append(hook)


@atexit.register
def _drain_all() -> None:
    for hook in _EXIT_HOOKS:
        try:
            hook()
        except Exception:
            log.debug("policy exit hook failed", exc_info=True)
    for worker in list(_LIVE):
        worker.drain()


awaiting: contextvars.ContextVar[dict[str, concurrent.futures.Future] | None]
awaiting = contextvars.ContextVar("voicegateway_policy_awaiting", default=None)
"""Set by a caller that awaits admission (``fallback.serve``): the policy tasks it is waiting
for, by step name, so the step asked again takes the finished task's result."""


def run_policy_task(
    worker: PolicyWorker,
    name: str,
    project: str,
    task: Callable[[], T],
    on_timeout: Callable[[float], Exception],
) -> T:
    """``task``'s result, computed in ``worker`` without stalling an event loop: a caller that
    awaits gets :class:`AdmissionPending` (and the result when it asks again); any other caller
    waits at most :data:`SYNC_WAIT_ON_LOOP` on a loop, :data:`STATE_TIMEOUT` off one, then gets
    ``on_timeout(seconds)`` raised."""
    waiting = awaiting.get()
    if waiting is not None and name in waiting:
        pending: concurrent.futures.Future[T] = waiting.pop(name)  # this task, asked before
        return wait_for(name, project, pending, on_timeout)
    return wait_for(name, project, worker.submit(task), on_timeout)


def wait_for(
    name: str,
    project: str,
    future: concurrent.futures.Future[T],
    on_timeout: Callable[[float], Exception],
) -> T:
    """The result of a policy task already submitted, as :func:`run_policy_task` waits for it."""
    from voicegateway.policies.errors import AdmissionPending

    waiting = awaiting.get()
    if waiting is not None:
        if not future.done():
            waiting[name] = future
            raise AdmissionPending(project, future, STATE_TIMEOUT)
        return future.result()
    timeout = SYNC_WAIT_ON_LOOP if on_event_loop() else STATE_TIMEOUT + 0.5
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise on_timeout(timeout) from None
