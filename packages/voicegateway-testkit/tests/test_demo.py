"""The README's main job, ``python -m voicegateway_testkit.demo``, run as a user runs it: a real
process, real Piper, Whisper and VAD, and either no Ollama at all or the testkit's fake Ollama.
Its ledger is then read back with ``voicegw costs``, as a user would."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from voicegateway_testkit.demo import CALLER, SCRIPTED
from voicegateway_testkit.servers.ollama import OllamaServer

pytestmark = pytest.mark.timeout(300)

OLLAMA_REPLIES = [
    "Sure, for what time?",
    "Booked for seven.",
    "Goodbye!",
]


def run_demo(directory: Path, ollama_url: str) -> str:
    """The demo's output; fails the test, with its output, unless it exits 0."""
    env = {
        **os.environ,
        "OLLAMA_BASE_URL": ollama_url,
        "HF_HUB_OFFLINE": "1",
        "LIVEKIT_AGENTS_TELEMETRY_DISABLED": "1",
    }
    env.pop("VOICEGW_PROFILE", None)
    done = subprocess.run(
        [sys.executable, "-m", "voicegateway_testkit.demo", "--dir", str(directory)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def ledger(directory: Path) -> dict[str, dict]:
    """``voicegw costs --by modality,provider,model --format json`` of the demo's ledger, by
    modality."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "voicegateway.cli", "costs"),
            *("--config", str(directory / "voicegw.yaml")),
            *("--by", "modality,provider,model", "--format", "json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert len(rows) == len({row["modality"] for row in rows}) == 3, rows
    return {row["modality"]: row for row in rows}


def said(output: str, who: str) -> list[str]:
    """What the transcript says ``who`` said, in order."""
    return re.findall(rf"^ +{re.escape(who)}: (.*)$", output, flags=re.MULTILINE)


def words(text: str) -> set[str]:
    return set(re.sub(r"[^a-z0-9' ]", " ", text.lower()).replace("seven", "7").split())


def assert_whisper_heard_the_caller(output: str) -> list[str]:
    heard = said(output, "Whisper heard")
    assert len(heard) == len(CALLER), output
    for spoken, transcript in zip(CALLER, heard, strict=True):
        overlap = len(words(spoken) & words(transcript)) / len(words(spoken))
        assert overlap >= 0.6, (spoken, transcript)
    return heard


def what_if_total(output: str) -> Decimal:
    match = re.search(r"^total: \$0 here; \$([0-9.]+) as the same conversation on ", output, re.M)
    assert match, output
    return Decimal(match.group(1))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_without_ollama_the_scripted_llm_answers_labelled_and_everything_is_metered(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/v1"

    output = run_demo(tmp_path, url)

    assert (
        f"no Ollama server answered at {url.removesuffix('/v1')} " in output
        and "; using the testkit's scripted LLM (fake/scripted)" in output
    ), output
    assert_whisper_heard_the_caller(output)
    assert said(output, "agent (scripted LLM)") == SCRIPTED
    assert not said(output, "agent")  # no reply goes unlabelled
    assert "fake/scripted (scripted LLM)" in output  # the cost report's LLM row
    assert what_if_total(output) > 0

    rows = ledger(tmp_path)
    assert (rows["stt"]["provider"], rows["stt"]["model"]) == ("whisper", "tiny.en")
    assert (rows["llm"]["provider"], rows["llm"]["model"]) == ("fake", "scripted")
    assert (rows["tts"]["provider"], rows["tts"]["model"]) == ("piper", "en_US-joe-medium")
    assert rows["stt"]["requests"] == rows["llm"]["requests"] == len(CALLER)
    # seconds of caller speech: three short sentences, each at least a second long
    assert len(CALLER) <= Decimal(rows["stt"]["stt_audio_seconds"]) < 20
    assert rows["llm"]["output_tokens"] == sum(len(reply.split()) for reply in SCRIPTED)
    # the agent's words only: the caller's voice (Piper too) is not the agent's TTS spend
    assert rows["tts"]["characters"] == sum(len(reply) for reply in SCRIPTED)
    assert all(Decimal(row["cost_usd"]) == 0 for row in rows.values())


@pytest.mark.slow
def test_with_ollama_the_ollama_provider_answers_what_whisper_heard(tmp_path):
    with OllamaServer(reply=OLLAMA_REPLIES, models=("llama3.2:latest",)) as server:
        url = f"{server.url}/v1"
        output = run_demo(tmp_path, url)

    assert f"LLM: ollama/llama3.2 at {url}" in output
    assert "scripted" not in output, output
    heard = assert_whisper_heard_the_caller(output)
    assert said(output, "agent") == OLLAMA_REPLIES
    chats = [r.json for r in server.requests_for("/v1/chat/completions")]
    assert [chat["model"] for chat in chats] == ["llama3.2"] * len(CALLER)
    # each request ends with what Whisper heard
    assert [chat["messages"][-1]["content"] for chat in chats] == heard
    assert what_if_total(output) > 0

    rows = ledger(tmp_path)
    assert (rows["llm"]["provider"], rows["llm"]["model"]) == ("ollama", "llama3.2")
    assert rows["llm"]["requests"] == len(CALLER)
    # the tokens Ollama reported (the fake counts words) are the tokens recorded
    assert rows["llm"]["input_tokens"] == sum(
        len(message["content"].split()) for chat in chats for message in chat["messages"]
    )
    assert rows["llm"]["output_tokens"] == sum(len(reply.split()) for reply in OLLAMA_REPLIES)
    assert rows["tts"]["characters"] == sum(len(reply) for reply in OLLAMA_REPLIES)


def test_the_ollama_check_never_shows_the_credentials_of_the_base_url():
    from voicegateway.config.schema import ProviderSettings
    from voicegateway_testkit.demo import ollama_problem

    with OllamaServer(models=("qwen2.5:0.5b",)) as server:
        url = server.url
        settings = ProviderSettings(base_url=url.replace("://", "://alice:s3cr3t-t0ken@") + "/v1")
        problem = ollama_problem(settings, "llama3.2")

    assert problem == f"the Ollama server at {url} has not pulled llama3.2 (it has: qwen2.5:0.5b)"


def test_the_models_loading_are_named_on_a_terminal_and_nothing_is_written_when_piped():
    import io
    import pty

    from voicegateway_testkit.demo import load_models, piper_voice

    primary, secondary = pty.openpty()
    shown = []

    def whisper() -> None:  # what the terminal shows while this one loads
        shown.append(os.read(primary, 4096).decode())

    with os.fdopen(secondary, "w") as terminal:
        load_models([("the Piper voice", piper_voice), ("the Whisper model", whisper)], terminal)
    erased = os.read(primary, 4096).decode()
    os.close(primary)
    assert shown[0].startswith("\rloading the Piper voice (1 of 2), 0 s")
    assert shown[0].endswith("\rloading the Whisper model (2 of 2), 0 s")
    assert erased.endswith("\r") and "loading" not in erased
    assert piper_voice() is piper_voice()  # loaded once: the caller's lines do not load it again

    piped = io.StringIO()
    load_models([("the Piper voice", piper_voice)], piped)
    assert piped.getvalue() == ""
