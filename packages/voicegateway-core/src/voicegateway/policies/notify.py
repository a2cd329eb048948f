"""Budget alerts: threshold crossings posted to a webhook (``projects.<p>.budget.notify``).

The process whose shared-state insert recorded a crossing calls :meth:`WebhookNotifier.send`
from its policy worker thread; the POST happens on the notifier's own daemon thread, so neither
that worker nor the agent's event loop ever waits on the network. The body is Slack's
incoming-webhook JSON (``text`` plus ``blocks``), which Mattermost, Discord's ``/slack`` endpoint
and most chat tools also accept.

A Slack webhook URL is a credential (its path is the token), so it is read only when a request is
made, and no log line, repr or error says anything taken from it: failures are described by HTTP
status or exception class only, since urllib's messages quote the URL.

Standard library only; ``urllib.request`` (tens of milliseconds to import) is imported by the
sending thread on its first request, not by whoever loads the config.
"""

from __future__ import annotations

import atexit
import json
import logging
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from voicegateway.config.schema import webhook_problem

if TYPE_CHECKING:
    from voicegateway.config.env import Secret

log = logging.getLogger("voicegateway.policies")

ACTION_MEANINGS = {
    "warn": "nothing is refused; this is a warning only",
    "throttle": "new calls go to the throttle_to chain once the last threshold is reached",
    "block": "new calls are refused once spend reaches 100% of the limit",
}


@dataclass(frozen=True, slots=True)
class Crossing:
    """One budget threshold crossed: what an alert says."""

    project: str
    period: str  # "daily (2026-12-02)", "monthly (2026-12)", "per-session (abc)"
    threshold: float  # 0.8 for 80%
    spend: Decimal  # US dollars, the limit's spend after the crossing
    limit: Decimal  # US dollars
    action: str  # warn | throttle | block
    ts: float  # epoch seconds


def percent(threshold: float) -> str:
    """``0.8`` -> ``"80"``, ``0.805`` -> ``"80.5"``: exact, without float noise."""
    return format((Decimal(repr(threshold)) * 100).normalize(), "f")


def slack_payload(crossing: Crossing) -> dict[str, Any]:
    """The crossing as Slack incoming-webhook JSON: a plain ``text`` line (shown in notifications
    and by tools that ignore blocks) and one mrkdwn section. Amounts are exact decimals."""
    c = crossing
    project, period = _escape(c.project), _escape(c.period)
    spend, limit = format(c.spend, "f"), format(c.limit, "f")
    meaning = ACTION_MEANINGS.get(c.action, "")
    if c.action == "block" and c.threshold >= 1:
        meaning = "new calls are now refused"
    when = datetime.fromtimestamp(c.ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    text = (
        f"VoiceGateway budget: project {project} crossed {percent(c.threshold)}% of its "
        f"{period} limit (${spend} of ${limit}); action {_escape(c.action)}: {meaning}"
    )
    section = (
        f":warning: *Budget {percent(c.threshold)}% reached* for project *{project}*\n"
        f"*Period:* {period}\n"
        f"*Spend:* ${spend} of ${limit}\n"
        f"*Action:* `{_escape(c.action)}`: {meaning}\n"
        f"*At:* {when}"
    )
    return {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": section}}],
    }


def _escape(text: str) -> str:
    """Slack reads ``&``, ``<`` and ``>`` as markup (``<!channel>`` pings everyone)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Failed(Exception):
    """One attempt failed: ``reason`` is safe to log (never text from urllib)."""

    def __init__(self, reason: str, *, retry: bool, wait: float = 0.0) -> None:
        super().__init__(reason)
        self.reason, self.retry, self.wait = reason, retry, wait


class WebhookNotifier:
    """Posts :class:`Crossing` alerts to one webhook, from one daemon thread.

    ``url`` is the config's :class:`~voicegateway.config.Secret` (or a plain string), read at
    each send. A failed attempt (no connection, HTTP 5xx or 429) is retried ``retries`` times,
    waiting ``backoff`` seconds doubled each time (or the 429's ``Retry-After``, up to 30 s);
    then one WARNING on ``voicegateway.policies`` names the project and the failure. No response
    within ``timeout`` after the request went out is not retried: the alert may have arrived, and
    a crossing is announced once. Alerts still queued when the process exits are sent first:
    :meth:`close` runs at exit.
    """

    def __init__(
        self,
        url: Secret | str,
        *,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self._url = url
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self._pending: deque[Crossing] = deque()
        self._unfinished = 0  # queued or being sent
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        shown = self._url.display() if hasattr(self._url, "display") else "****"
        return f"WebhookNotifier({shown})"

    def send(self, crossing: Crossing) -> None:
        """Queue ``crossing`` for posting and return at once (a lock taken for an append)."""
        with self._ready:
            self._pending.append(crossing)
            self._unfinished += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="voicegateway-budget-alerts", daemon=True
                )
                self._thread.start()
                atexit.register(self.close)
            self._ready.notify()

    def close(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds for queued alerts to be posted (or given up); True
        when none is left. The notifier stays usable. Runs at interpreter exit."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while self._unfinished and (left := deadline - time.monotonic()) > 0:
                self._ready.wait(left)
            unsent = self._unfinished
        if unsent:
            log.warning(
                "budget alerts: %d still unsent after waiting %s s; they are lost if the process "
                "exits now",
                unsent,
                timeout,
            )
        return not unsent

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._pending:
                    self._ready.wait()
                crossing = self._pending.popleft()
            try:
                self._deliver(crossing)
            except Exception as error:  # never let one alert stop the thread; text may hold the URL
                self._give_up(crossing, type(error).__name__, 1)
            finally:
                with self._ready:
                    self._unfinished -= 1
                    self._ready.notify_all()

    def _deliver(self, crossing: Crossing) -> None:
        from voicegateway.config.env import MissingEnvError

        try:
            url = self._url if isinstance(self._url, str) else self._url.get_secret_value()
        except MissingEnvError as error:  # our own message: names the variable, never a value
            self._give_up(crossing, str(error), 0)
            return
        if problem := webhook_problem(url):
            self._give_up(crossing, f"the webhook {problem}", 0)
            return
        body = json.dumps(slack_payload(crossing)).encode()
        for attempt in range(self.retries + 1):
            try:
                self._post(url, body)
            except _Failed as failure:
                if not failure.retry or attempt == self.retries:
                    self._give_up(crossing, failure.reason, attempt + 1)
                    return
                time.sleep(max(self.backoff * 2**attempt, failure.wait))
            else:
                log.debug("budget alert for project %r posted", crossing.project)
                return

    def _post(self, url: str, body: bytes) -> None:
        """One POST; raises :class:`_Failed` with a reason safe to log."""
        import http.client
        import urllib.error
        import urllib.request

        from voicegateway._version import __version__

        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": f"voicegateway/{__version__}",
            },
        )
        try:
            with _opener().open(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as error:
            with error:
                detail = _error_code(error)
                wait = _retry_after(error.headers.get("Retry-After"))
            retry = error.code == 429 or error.code >= 500
            raise _Failed(f"HTTP {error.code}{detail}", retry=retry, wait=wait) from None
        except urllib.error.URLError as error:  # raised before the request was fully sent
            reason = error.reason
            name = type(reason).__name__ if isinstance(reason, BaseException) else "URLError"
            raise _Failed(name, retry=True) from None
        except (OSError, http.client.HTTPException) as error:
            name = type(error).__name__
            reason = f"{name} while waiting for the response (not retried: it may have arrived)"
            raise _Failed(reason, retry=False) from None

    def _give_up(self, crossing: Crossing, reason: str, attempts: int) -> None:
        tries = f" after {attempts} attempt{'s' if attempts > 1 else ''}" if attempts else ""
        log.warning(
            "budget alert for project %r (%s%% of its %s limit) not sent%s: %s",
            crossing.project,
            percent(crossing.threshold),
            crossing.period,
            tries,
            reason,
        )


_SLACK_ERROR = re.compile(r"[a-z_]{1,40}")


def _error_code(error: Any) -> str:
    """Slack's short error code (``invalid_token``, ``no_service``) when the body is one; any
    other body is left out, as a server may echo the request's path."""
    try:
        text = error.read(64).decode("ascii").strip()
    except (OSError, UnicodeDecodeError, ValueError):
        return ""
    return f" {text}" if _SLACK_ERROR.fullmatch(text) else ""


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or 0), 0.0), 30.0)
    except ValueError:  # an HTTP date: fall back to the backoff
        return 0.0


_OPENER: Any = None


def _opener() -> Any:
    """urllib without redirects: a redirected POST would become a GET without the alert, and
    the webhook would look delivered."""
    global _OPENER
    if _OPENER is None:
        import urllib.request

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any) -> None:
                return None

        _OPENER = urllib.request.build_opener(NoRedirect)
    return _OPENER
