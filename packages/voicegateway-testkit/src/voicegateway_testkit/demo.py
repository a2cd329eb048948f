"""``hatch run demo``: a real AgentSession voice conversation through VoiceGateway, offline.

A caller's three sentences are spoken by Piper and played into the session's microphone. The
agent hears them with Whisper (``ears``), answers with the LLM (``brain``) and speaks with Piper
(``mouth``), every model built by ``voicegateway.inference`` and metered. The LLM is
``ollama/<model>`` at ``providers.ollama.base_url`` (``$OLLAMA_BASE_URL``); when no Ollama server
answers there, the testkit's scripted LLM (``fake/scripted``) replies instead, and every line
that shows its words says so. The usage lands in a DuckDB ledger under ``--dir``, and the demo
ends with its cost report and what the same usage would have cost on a cloud stack.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

CALLER = [
    "Hello, I would like to book a table for two tonight.",
    "Seven o'clock, please.",
    "That is all, thank you very much.",
]
SCRIPTED = [
    "Happy to help. What time would you like?",
    "Done: a table for two at seven tonight.",
    "You're welcome. Enjoy your evening!",
]
INSTRUCTIONS = (
    "You take restaurant bookings by phone. Answer in one short sentence, plain words, no lists."
)
CLOUD_STACK = "stt=deepgram/nova-3,llm=openai/gpt-4o-mini,tts=cartesia/sonic-3"
PROJECT = "demo"
MIC_RATE = 16000
"""The microphone's sample rate; the caller's Piper audio (22.05 kHz) is resampled to it."""
SCRIPTED_PROFILE = "scripted"
SCRIPTED_MARK = " (scripted LLM)"
"""Follows the scripted LLM's name wherever its words or its usage are shown."""


def _config(storage: Path, ollama_model: str) -> str:
    return textwrap.dedent(f"""\
        # written by the demo (python -m voicegateway_testkit.demo): everything runs locally
        default_project: {PROJECT}
        providers:
          ollama: {{base_url: "${{OLLAMA_BASE_URL:-http://localhost:11434/v1}}"}}
        projects:
          {PROJECT}: {{}}
        models:
          ears: whisper/tiny.en
          brain: ollama/{ollama_model}
          mouth: piper/en_US-joe-medium
        profiles:
          {SCRIPTED_PROFILE}:      # chosen when no Ollama server answers
            models: {{brain: fake/scripted}}
        storage: {{path: "{storage}"}}
    """)


def ollama_problem(settings, model: str) -> str | None:
    """Why ``ollama/<model>`` cannot serve with these ``providers.ollama`` settings (None: it
    can), from the server's model list, asked with a 1 s timeout."""
    from voicegateway.url_credentials import redact_url
    from voicegateway_ollama.plugin import discover_models, server_root

    try:
        pulled = [info.name for info in discover_models(settings, timeout=1.0)]
    except RuntimeError as exc:  # says "no Ollama server answered at <url> (<reason>)"
        return str(exc)
    if (model if ":" in model else f"{model}:latest") not in pulled:  # Ollama's default tag
        have = ", ".join(pulled) or "none"
        root = redact_url(server_root(settings.base_url))
        return f"the Ollama server at {root} has not pulled {model} (it has: {have})"
    return None


def piper_voice():
    """The Piper voice the caller and the agent (``mouth``) speak with, loaded once per process."""
    from voicegateway_piper.plugin import BUNDLED_VOICE, PiperSettings, voice_files
    from voicegateway_piper.tts import VoiceOptions, load_voice

    model, config = voice_files(BUNDLED_VOICE, PiperSettings())
    return load_voice(VoiceOptions(str(model), str(config)))


def load_models(models: Sequence[tuple[str, Callable[[], object]]], stream=None) -> None:
    """Run each ``(name, load)`` in turn, naming the model being loaded on a progress line when
    ``stream`` (stderr) is a terminal: loading takes seconds and otherwise shows nothing, so
    piped output is unchanged."""
    from voicegateway.cli.progress import Progress

    for number, (name, load) in enumerate(models, 1):
        with Progress(f"loading {name} ({number} of {len(models)})", stream=stream):
            load()


def caller_voice(sentences: list[str]) -> list[bytes]:
    """Each sentence spoken by Piper, as 16-bit PCM at :data:`MIC_RATE`.

    The caller stands in for a person on the phone, whose voice costs the agent nothing: it is
    made with the Piper engine directly (:func:`piper_voice`), not through
    ``voicegateway.inference``, so it is not metered as the agent's TTS spend. It runs before
    the session starts: nothing else uses Piper's (process-global) phonemizer meanwhile."""
    from livekit import rtc

    voice = piper_voice()
    spoken = []
    for sentence in sentences:
        chunks = list(voice.synthesize(sentence))
        resampler = rtc.AudioResampler(chunks[0].sample_rate, MIC_RATE, num_channels=1)
        frames = []
        for chunk in chunks:
            frames.extend(resampler.push(bytearray(chunk.audio_int16_bytes)))
        frames.extend(resampler.flush())
        spoken.append(bytes(rtc.combine_audio_frames(frames).data))
    return spoken


async def converse(utterances: list[bytes], *, scripted: bool) -> None:
    """Play each utterance, then silence, into the session and wait for the agent's spoken
    reply; print the transcript as it happens."""
    from livekit.agents import Agent, AgentSession
    from livekit.agents import inference as livekit_inference
    from livekit.agents.utils import http_context

    from voicegateway import inference
    from voicegateway_testkit.fakes import FakeAudioInput, FakeAudioOutput

    agent = "agent" + SCRIPTED_MARK * scripted
    async with http_context.open():
        session = AgentSession(
            stt=inference.STT("ears"),
            # the scripted LLM gets its lines here; an Ollama model gets nothing extra
            llm=inference.LLM("brain", extra_kwargs={"reply": SCRIPTED} if scripted else None),
            tts=inference.TTS("mouth"),
            # Whisper is not streaming: the session cuts utterances with a VAD (silero, shipped
            # in livekit-local-inference, runs offline) and ends a turn on the VAD's silence.
            # A caller's comma pause is ~0.3 s: only a longer silence ends an utterance.
            vad=livekit_inference.VAD(min_silence_duration=0.7),
            turn_handling={
                "turn_detection": "vad",
                "endpointing": {"min_delay": 0.2},
                # the caller waits for each reply, and a script must not be spent on guesses
                "interruption": {"enabled": False},
                "preemptive_generation": {"enabled": False},
            },
        )

        replies = 0

        @session.on("conversation_item_added")
        def _said(event) -> None:
            nonlocal replies
            if event.item.type != "message":  # not agent handoffs or tool calls
                return
            replies += event.item.role == "assistant"
            who = "Whisper heard" if event.item.role == "user" else agent
            print(f"  {who:>22}: {event.item.text_content}", flush=True)

        mic = FakeAudioInput(sample_rate=MIC_RATE)
        session.input.audio, session.output.audio = mic, FakeAudioOutput()
        await session.start(Agent(instructions=INSTRUCTIONS))
        try:
            for turn, (sentence, pcm) in enumerate(zip(CALLER, utterances, strict=True)):
                print(f"  {'caller says':>22}: {sentence}", flush=True)
                mic.push_seconds(0.3)
                mic.push_pcm(pcm)
                mic.push_seconds(1.5)  # the pause that ends the caller's turn
                # The caller waits for the whole reply: while the agent speaks (it cannot be
                # interrupted here) the session hands its STT silence in place of the mic.
                async with asyncio.timeout(120):  # a cold Ollama loads its model first
                    while replies <= turn or session.agent_state != "listening":
                        await asyncio.sleep(0.02)
        finally:
            await session.aclose()


UNIT_NAMES = {
    "stt_audio_seconds": "s of audio heard",
    "tts_audio_seconds": "s of audio spoken",
    "input_tokens": "input tokens",
    "cached_tokens": "cached",
    "cache_creation_tokens": "cache writes",
    "output_tokens": "output tokens",
    "characters": "characters",
}


def _units(row: dict) -> str:
    """The billable units of a ledger row, in words (STT audio is the provider's figure)."""
    return ", ".join(
        f"{row[name]:.1f} {label}" if isinstance(row[name], Decimal) else f"{row[name]} {label}"
        for name, label in UNIT_NAMES.items()
        if row[name]
    )


def cost_report(storage, since: datetime, what_if: str) -> int:
    """The conversation as the ledger has it: units and cost per modality, provider and model,
    and the same units priced on the ``what_if`` stack by ``voicegw costs --what-if``'s own
    query. Returns how many usage records the ledger holds for the conversation."""
    from voicegateway.cli.costs import parse_what_if
    from voicegateway.cli.output import decimal_text, table
    from voicegateway.ledger import Ledger, queries

    stack = parse_what_if(what_if)
    window = queries.Filters(since=since, project=PROJECT)
    by = ["modality", "provider", "model"]
    with Ledger.from_config(storage).open() as con:  # ingests the spooled records first
        rows = queries.what_if(con, stack, by, timezone=storage.timezone, filters=window)

    def usd(value) -> str:
        return "unpriced" if value is None else f"${decimal_text(value)}"

    requests = sum(row["requests"] for row in rows)
    print(f"\ncost report: {requests} usage records in the ledger {storage.path}")
    print(
        table(
            ["modality", "served by", "requests", "units", "cost", "on the cloud stack", "cost"],
            [
                [
                    row["modality"],
                    f"{row['provider']}/{row['model']}"
                    + SCRIPTED_MARK * (row["provider"] == "fake"),
                    row["requests"],
                    _units(row),
                    usd(row["cost_usd"]),
                    "/".join(stack[row["modality"]]) if row["modality"] in stack else "(same)",
                    usd(row["what_if_usd"]),
                ]
                for row in rows
            ],
        )
    )
    here = [row["cost_usd"] for row in rows]
    cloud = [row["what_if_usd"] for row in rows]
    total_here = "unpriced" if None in here else usd(sum(here))
    total_cloud = "unpriced" if None in cloud else usd(sum(cloud))
    print(f"total: {total_here} here; {total_cloud} as the same conversation on {what_if}")
    print("cloud prices from:")
    for detail in dict.fromkeys(row["what_if_detail"] for row in rows if row["what_if_detail"]):
        print(f"  {detail}")
    return requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dir", type=Path, help="where voicegw.yaml and the ledger go (default: a temporary one)"
    )
    parser.add_argument(
        "--ollama-model", default="llama3.2", help="the Ollama model (default: llama3.2)"
    )
    parser.add_argument(
        "--what-if",
        default=CLOUD_STACK,
        help=f"the cloud stack to compare (default: {CLOUD_STACK})",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    if args.dir is None:
        args.dir = Path(tempfile.mkdtemp(prefix="voicegateway-demo-"))
    args.dir.mkdir(parents=True, exist_ok=True)
    from voicegateway_testkit.fake_discovery import discoverable

    with discoverable():  # the scripted LLM, fake/scripted, is the testkit's fake provider
        return run(args, args.dir.resolve())


def run(args: argparse.Namespace, directory: Path) -> int:
    """The conversation, then its cost report; the exit status."""
    import voicegateway
    from voicegateway import inference

    started = datetime.now(UTC)
    clock = time.perf_counter()
    path = directory / "voicegw.yaml"
    path.write_text(_config(directory / "usage.duckdb", args.ollama_model))
    print(f"VoiceGateway demo: config and ledger in {directory}")

    # providers.ollama as configured, ${OLLAMA_BASE_URL} resolved
    ollama = voicegateway.configure(path).config.provider_settings("ollama").resolve()
    problem = ollama_problem(ollama, args.ollama_model)
    scripted = problem is not None
    if scripted:
        print(f"{problem}; using the testkit's scripted LLM (fake/scripted)")
    else:
        print(f"LLM: ollama/{args.ollama_model} at {ollama.base_url}")
    gateway = voicegateway.configure(path, profile=SCRIPTED_PROFILE if scripted else None)

    # loaded here, named on a terminal while they load, not in the conversation's first turn
    ears = inference.STT("ears").plugin
    load_models([("the Piper voice", piper_voice), (f"the Whisper model {ears.model}", ears.load)])
    print("speaking the caller's lines with Piper...", flush=True)
    utterances = caller_voice(CALLER)
    print("\nconversation (Whisper hears, the LLM answers, Piper speaks):")
    try:
        asyncio.run(converse(utterances, scripted=scripted))
    except TimeoutError:
        print("the agent did not answer the caller within 120 s", file=sys.stderr)
        return 1
    gateway.spooler.flush()  # on disk now, not in 0.25 s

    records = cost_report(gateway.config.storage, started, args.what_if)
    if scripted:
        print(
            "\nthe agent's words came from the testkit's scripted LLM (fake/scripted), not a "
            f"model: run Ollama (`ollama pull {args.ollama_model}`) or set OLLAMA_BASE_URL"
        )
    print(f"\ntook {time.perf_counter() - clock:.1f} s. The same report from the ledger, later:")
    print(f"  voicegw costs --config {path} --by modality,provider,model --what-if {args.what_if}")
    return 0 if records else 1


if __name__ == "__main__":
    sys.exit(main())
