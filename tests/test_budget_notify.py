"""Budget alerts (``policies.notify``) against a real webhook receiver on 127.0.0.1: what is
posted, retries, giving up, the caller never waiting, the alert of an exiting process, and the
webhook URL (a credential) never in a log line, a repr, an error or a printed config."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections import deque
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from voicegateway.config import ConfigError, Secret, load_config
from voicegateway.policies.notify import Crossing, WebhookNotifier, slack_payload

TOKEN = "XyzzyHookToken7731"
"""The secret part of every webhook URL here: it must never be logged or printed."""

CROSSING = Crossing(
    project="support",
    period="daily (2026-12-02)",
    threshold=0.8,
    spend=Decimal("16.000000123"),
    limit=Decimal("20"),
    action="block",
    ts=1796212800.0,  # 2026-12-02 12:00:00 UTC
)


class Receiver:
    """A webhook receiver. ``statuses`` are answered in turn (then 200, or ``body`` with them);
    ``gate`` holds every request (at most 10 s) before it is recorded and answered."""

    def __init__(self) -> None:
        self.statuses: deque[int] = deque()
        self.body = b""  # of an error response
        self.gate = threading.Event()
        self.gate.set()
        self.arrived = 0  # requests whose body was read
        self.first_arrival = threading.Event()
        self.requests: list[tuple[str, dict[str, str], dict]] = []  # recorded and answered
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.arrived += 1
                receiver.first_arrival.set()
                receiver.gate.wait(10)
                status = receiver.statuses.popleft() if receiver.statuses else 200
                receiver.requests.append((self.path, dict(self.headers), json.loads(body)))
                reply = receiver.body if status != 200 else b"ok"
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                pass  # a client that timed out has gone: nothing to report

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T0001/B0002/{TOKEN}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def logs(caplog) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_url_absent(records: list[logging.LogRecord], url: str) -> None:
    """No part of ``url``: the token, the path, the host and port."""
    host, _, path = url.removeprefix("http://").partition("/")
    for record in records:
        text = record.getMessage() + repr(record.args) + (record.exc_text or "")
        for part in (TOKEN, path, host, "/services/"):
            assert part not in text, (part, text)


def warnings_of(logs: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in logs.records
        if r.levelno == logging.WARNING and r.name == "voicegateway.policies"
    ]


def test_the_payload_is_slack_json_with_exact_amounts():
    payload = slack_payload(CROSSING)
    assert set(payload) == {"text", "blocks"}
    assert payload["text"] == (
        "VoiceGateway budget: project support crossed 80% of its daily (2026-12-02) limit "
        "($16.000000123 of $20); action block: new calls are refused once spend reaches 100% "
        "of the limit"
    )
    [section] = payload["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    text = section["text"]["text"]
    assert "*Budget 80% reached* for project *support*" in text
    assert "*Period:* daily (2026-12-02)" in text
    assert "*Spend:* $16.000000123 of $20" in text
    assert "*At:* 2026-12-02 12:00:00 UTC" in text


@pytest.mark.parametrize(
    ("action", "threshold", "meaning"),
    [
        ("warn", 1.0, "nothing is refused"),
        ("block", 1.0, "new calls are now refused"),
        ("throttle", 0.9, "throttle_to chain"),
    ],
)
def test_the_payload_says_what_the_action_means(action, threshold, meaning):
    crossing = Crossing(
        "a", "monthly (2026-12)", threshold, Decimal("1E+1"), Decimal("10"), action, 0
    )
    payload = slack_payload(crossing)
    assert meaning in payload["text"] and meaning in payload["blocks"][0]["text"]["text"]
    assert (
        f"{round(threshold * 100)}% of its monthly (2026-12) limit ($10 of $10)"
        in (payload["text"])
    )


def test_slack_markup_in_names_is_escaped():
    crossing = Crossing(
        "<!channel> & co", "per-session (<x>)", 0.805, Decimal(1), Decimal(2), "warn", 0
    )
    payload = slack_payload(crossing)
    for text in (payload["text"], payload["blocks"][0]["text"]["text"]):
        assert "&lt;!channel&gt; &amp; co" in text and "per-session (&lt;x&gt;)" in text
        assert "<!channel>" not in text
    assert "80.5%" in payload["text"]


def test_each_send_posts_the_payload_once(hook, logs):
    notifier = WebhookNotifier(Secret(hook.url))
    second = dataclasses.replace(CROSSING, threshold=1.0)
    notifier.send(CROSSING)
    notifier.send(second)
    assert notifier.close(10)
    assert [body for _, _, body in hook.requests] == [
        slack_payload(CROSSING),
        slack_payload(second),
    ]
    path, headers, _ = hook.requests[0]
    assert path == f"/services/T0001/B0002/{TOKEN}"
    assert headers["Content-Type"] == "application/json"
    assert not warnings_of(logs)
    assert_url_absent(logs.records, hook.url)


def test_a_500_is_retried_then_the_alert_goes_through(hook, logs):
    hook.statuses.extend([500, 503])
    notifier = WebhookNotifier(hook.url, retries=3, backoff=0.01)
    notifier.send(CROSSING)
    assert notifier.close(10)
    assert len(hook.requests) == 3
    assert not warnings_of(logs)


def test_gives_up_after_the_retries_with_one_warning_and_no_url(hook, logs):
    hook.statuses.extend([500] * 10)
    notifier = WebhookNotifier(Secret(hook.url), retries=2, backoff=0.01)
    notifier.send(CROSSING)
    assert notifier.close(10)
    assert len(hook.requests) == 3  # the first attempt and 2 retries
    [warning] = warnings_of(logs)
    assert "'support'" in warning and warning.endswith("not sent after 3 attempts: HTTP 500")
    assert_url_absent(logs.records, hook.url)


def test_a_rejected_webhook_is_not_retried_and_slacks_error_code_is_named(hook, logs):
    hook.statuses.append(404)
    hook.body = b"no_service"
    notifier = WebhookNotifier(hook.url, retries=3, backoff=0.01)
    notifier.send(CROSSING)
    assert notifier.close(10)
    assert len(hook.requests) == 1
    [warning] = warnings_of(logs)
    assert warning.endswith("not sent after 1 attempt: HTTP 404 no_service")


def test_a_body_echoing_the_url_is_not_logged(hook, logs):
    hook.statuses.append(403)
    hook.body = f"no such hook: /services/T0001/B0002/{TOKEN}".encode()
    notifier = WebhookNotifier(hook.url, retries=0)
    notifier.send(CROSSING)
    assert notifier.close(10)
    [warning] = warnings_of(logs)
    assert warning.endswith(": HTTP 403")
    assert_url_absent(logs.records, hook.url)


def test_connection_refused_gives_up_without_the_url(logs):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/services/T0001/B0002/{TOKEN}"
    notifier = WebhookNotifier(Secret(url), retries=2, backoff=0.01)
    notifier.send(CROSSING)
    assert notifier.close(10)
    [warning] = warnings_of(logs)
    assert "'support'" in warning and "after 3 attempts: ConnectionRefusedError" in warning
    assert_url_absent(logs.records, url)


def test_no_response_is_not_retried_since_the_alert_may_have_arrived(hook, logs):
    hook.gate.clear()  # the receiver reads the request and never answers in time
    notifier = WebhookNotifier(Secret(hook.url), timeout=0.2, retries=3, backoff=0.01)
    notifier.send(CROSSING)
    assert notifier.close(10)
    assert hook.first_arrival.wait(10) and hook.arrived == 1
    [warning] = warnings_of(logs)
    assert "after 1 attempt: TimeoutError while waiting for the response" in warning
    assert_url_absent(logs.records, hook.url)


def test_send_returns_before_the_receiver_has_answered(hook):
    hook.gate.clear()  # a receiver that stalls: it answers only once the gate opens
    notifier = WebhookNotifier(hook.url, timeout=30)
    notifier.send(CROSSING)
    answered_before_send_returned = list(hook.requests)
    hook.gate.set()
    assert notifier.close(20)
    assert answered_before_send_returned == []  # a blocking send would have waited for it
    assert len(hook.requests) == 1


def test_an_unset_variable_is_reported_when_sending(tmp_path, hook, logs, monkeypatch):
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    config = load_budget(tmp_path, "${SLACK_WEBHOOK_URL}", env={})
    notifier = WebhookNotifier(config.project().budget.notify.webhook)
    notifier.send(CROSSING)
    assert notifier.close(10)
    [warning] = warnings_of(logs)
    assert "needs the environment variable SLACK_WEBHOOK_URL" in warning
    monkeypatch.setenv("SLACK_WEBHOOK_URL", hook.url)  # read at send time, not at load
    notifier.send(CROSSING)
    assert notifier.close(10)
    assert len(hook.requests) == 1


def test_repr_never_shows_the_url(hook):
    assert TOKEN not in repr(WebhookNotifier(hook.url))
    assert repr(WebhookNotifier(Secret(hook.url))) == "WebhookNotifier(****)"


def test_an_alert_sent_just_before_exit_is_delivered(hook):
    code = textwrap.dedent(f"""
        from decimal import Decimal
        from voicegateway.policies.notify import Crossing, WebhookNotifier
        notifier = WebhookNotifier({hook.url!r})
        notifier.send(Crossing("support", "daily (2026-12-02)", 1.0, Decimal("20.5"),
                               Decimal("20"), "block", 0.0))
    """)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert [body["blocks"][0]["text"]["text"].splitlines()[2] for _, _, body in hook.requests] == [
        "*Spend:* $20.5 of $20"
    ]
    assert TOKEN not in result.stdout + result.stderr


# --- config -----------------------------------------------------------------------------------


def budget_yaml(webhook: str, extra: str = "") -> str:
    return textwrap.dedent(f"""\
        default_project: app
        projects:
          app:
            budget:
              daily_usd: 5
              action: block
              notify: {{webhook: "{webhook}"{extra}}}
        """)


def load_budget(tmp_path, webhook: str, **kwargs):
    path = tmp_path / "voicegw.yaml"
    path.write_text(budget_yaml(webhook))
    return load_config(path, **kwargs)


def test_the_webhook_loads_from_the_environment_and_is_never_printed(tmp_path, hook):
    config = load_budget(tmp_path, "${SLACK_WEBHOOK_URL}", env={"SLACK_WEBHOOK_URL": hook.url})
    webhook = config.project().budget.notify.webhook
    assert webhook.get_secret_value() == hook.url
    assert config.redacted()["projects"]["app"]["budget"]["notify"] == {
        "webhook": "${SLACK_WEBHOOK_URL}"
    }
    printed = repr(config) + str(config) + repr(config.redacted()) + config.model_dump_json()
    assert TOKEN not in printed + repr(config.model_dump()) + str(webhook)
    assert config.missing_env() == []


def test_an_unset_webhook_variable_loads_and_is_listed_as_missing(tmp_path, monkeypatch):
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    config = load_budget(tmp_path, "${SLACK_WEBHOOK_URL}", env={})
    [missing] = config.missing_env()
    assert missing.variable == "SLACK_WEBHOOK_URL" and missing.line == 7


def test_a_literal_webhook_in_a_profile_is_masked(tmp_path, hook):
    path = tmp_path / "voicegw.yaml"
    path.write_text(
        budget_yaml("${SLACK_WEBHOOK_URL:-http://127.0.0.1/x}")
        + textwrap.dedent(f"""\
        profiles:
          prod:
            projects: {{app: {{budget: {{notify: {{webhook: "{hook.url}"}}}}}}}}
        """)
    )
    config = load_config(path, env={}, profile="prod")
    assert config.project().budget.notify.webhook.get_secret_value() == hook.url
    redacted = config.redacted()
    assert redacted["profiles"]["prod"]["projects"]["app"]["budget"]["notify"] == {
        "webhook": "****"
    }
    assert TOKEN not in repr(redacted) + repr(config) + str(config)


@pytest.mark.parametrize(
    "webhook",
    [f"ftp://hooks.example/{TOKEN}", f"hooks.slack.com/services/{TOKEN}", f"https:///{TOKEN}"],
)
def test_a_webhook_that_is_not_http_is_a_located_error_without_the_url(tmp_path, webhook):
    with pytest.raises(ConfigError) as caught:
        load_budget(tmp_path, webhook, env={})
    text = str(caught.value) + repr(caught.value) + "".join(map(repr, caught.value.issues))
    assert "voicegw.yaml:7:" in text and "projects.app.budget.notify.webhook" in text
    assert "is not an http(s) URL" in text
    assert TOKEN not in text and "ftp" not in text and "hooks.example" not in text


def test_a_bad_webhook_from_the_environment_is_a_located_error(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_budget(tmp_path, "${SLACK_WEBHOOK_URL}", env={"SLACK_WEBHOOK_URL": TOKEN})
    assert "voicegw.yaml:7:" in str(caught.value) and TOKEN not in str(caught.value)


def test_unknown_keys_under_notify_are_errors(tmp_path):
    path = tmp_path / "voicegw.yaml"
    path.write_text(budget_yaml("https://hooks.example/x", extra=", chanel: '#ops'"))
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert "voicegw.yaml:7:" in str(caught.value)
    assert "projects.app.budget.notify.chanel: unknown key" in str(caught.value)


def test_voicegw_check_prints_the_source_of_the_webhook_never_its_value(tmp_path, hook):
    (tmp_path / "voicegw.yaml").write_text(budget_yaml("${SLACK_WEBHOOK_URL}"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEGW_")}
    result = subprocess.run(
        [sys.executable, "-m", "voicegateway.cli", "check", "--verbose"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**env, "SLACK_WEBHOOK_URL": hook.url},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "webhook: ${SLACK_WEBHOOK_URL}" in result.stdout
    assert TOKEN not in result.stdout + result.stderr
