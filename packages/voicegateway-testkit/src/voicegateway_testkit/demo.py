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
from dataclasses import dataclass
from datetime import UTC, datetime
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


def _config(storage: Path, ollama_model: str) -> str:
    return textwrap.dedent(f"""\
        # written by the demo (python -m voicegateway_testkit.demo): everything runs locally
        default_project: {PROJECT}
        providers:
          ollama: {{base_url: "${{OLLAMA_BASE_URL:-http://localhost:11434/v1}}"}}
          whisper: {{beam_size: 1}}   # greedy decoding: fastest
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


def ollama_problem(base_url: str | None, model: str) -> str | None:
    """Why ``ollama/<model>`` cannot serve at ``base_url`` (None: it can), asking the server's
    model list with a 1 s timeout."""
    from voicegateway_ollama.plugin import discover_models, server_root

    @dataclass
    class Settings:
        base_url: str | None

    try:
        pulled = [info.name for info in discover_models(Settings(base_url), timeout=1.0)]
    except RuntimeError as exc:  # says "no Ollama server answered at <url> (<reason>)"
        return str(exc)
    wanted = model if ":" in model else f"{model}:latest"  # Ollama's default tag
    if wanted not in pulled:
        have = ", ".join(pulled) or "none"
        root = server_root(base_url)
        return f"the Ollama server at {root} has not pulled {model} (it has: {have})"
    return None


def caller_voice(sentences: list[str]) -> list[bytes]:
    """Each sentence spoken by Piper, as 16-bit PCM at :data:`MIC_RATE`.

    The caller stands in for a person on the phone, whose voice costs the agent nothing: it is
    made with the Piper engine directly (the voice the piper provider loads, loaded once), not
    through ``voicegateway.inference``, so it is not metered as the agent's TTS spend."""
    from livekit import rtc
    from voicegateway_piper.plugin import BUNDLED_VOICE, PiperSettings, voice_files
    from voicegateway_piper.tts import VoiceOptions, load_voice

    model, config = voice_files(BUNDLED_VOICE, PiperSettings())
    voice = load_voice(VoiceOptions(str(model), str(config)))
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


async def converse(utterances: list[bytes], agent_label: str) -> list[str]:
    """Play each utterance, then silence, into the session and wait for the agent's spoken
    reply; print and return the transcript as it happens."""
    from livekit.agents import Agent, AgentSession
    from livekit.agents import inference as livekit_inference
    from livekit.agents.utils import http_context

    from voicegateway import inference
    from voicegateway_testkit.fakes import FakeAudioInput, FakeAudioOutput

    scripted = agent_label != "agent"
    lines: list[str] = []
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

        @session.on("conversation_item_added")
        def _said(event) -> None:
            if event.item.type != "message":  # not agent handoffs or tool calls
                return
            who = "Whisper heard" if event.item.role == "user" else agent_label
            line = f"  {who:>22}: {event.item.text_content}"
            lines.append(line)
            print(line, flush=True)

        mic, speaker = FakeAudioInput(sample_rate=MIC_RATE), FakeAudioOutput()
        session.input.audio, session.output.audio = mic, speaker
        await session.start(Agent(instructions=INSTRUCTIONS))
        try:
            for turn, (sentence, pcm) in enumerate(zip(CALLER, utterances, strict=True)):
                print(f"  {'caller says':>22}: {sentence}", flush=True)
                mic.push_seconds(0.3)
                mic.push_pcm(pcm)
                mic.push_seconds(1.5)  # the pause that ends the caller's turn
                async with asyncio.timeout(60):
                    while len(speaker.segments) <= turn:  # until the reply has been played
                        await asyncio.sleep(0.02)
        finally:
            await session.aclose()
    return lines


def cost_report(storage, since: datetime, what_if: str, llm_note: str) -> int:
    """The conversation as the ledger has it: units and cost per modality, provider and model,
    then the same units priced on ``what_if`` (``voicegw costs --what-if``'s own code). Returns
    how many usage records the ledger holds for the conversation."""
    from voicegateway.cli.costs import emit, money, parse_what_if
    from voicegateway.ledger import Ledger, queries

    window = queries.Filters(since=since, project=PROJECT)
    by = ["modality", "provider", "model"]
    with Ledger.from_config(storage).open() as con:  # ingests the spooled records first
        rows = queries.what_if(
            con, parse_what_if(what_if), by, timezone=storage.timezone, filters=window
        )
    requests = sum(row["requests"] for row in rows)
    print(f"\ncost report: {requests} usage records in the ledger {storage.path}{llm_note}")
    emit(
        [{k: v for k, v in row.items() if k not in ("what_if_usd", "what_if_detail")} for row in rows],
        "table",
        always=("requests", "cost_usd"),
    )
    recorded = sum((row["cost_usd"] or 0 for row in rows), start=0)
    print(f"\nthe same conversation on a cloud stack ({what_if}):")
    for row in rows:
        print(f"  {row['modality']}: {row['what_if_detail']}: ${money(row['what_if_usd'] or 0)}")
    unknown = any(row["what_if_usd"] is None for row in rows)
    total = sum((row["what_if_usd"] or 0 for row in rows), start=0)
    print(
        f"  total: ${money(total)}{' (some units unpriced)' if unknown else ''}, "
        f"against ${money(recorded)} here"
    )
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
        "--what-if", default=CLOUD_STACK, help=f"the cloud stack to compare (default: {CLOUD_STACK})"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    if args.dir is None:
        args.dir = Path(tempfile.mkdtemp(prefix="voicegateway-demo-"))
    args.dir.mkdir(parents=True, exist_ok=True)
    directory = args.dir.resolve()

    import voicegateway

    started = datetime.now(UTC)
    clock = time.perf_counter()
    path = directory / "voicegw.yaml"
    path.write_text(_config(directory / "usage.duckdb", args.ollama_model))
    print(f"VoiceGateway demo: config and ledger in {directory}")

    # the configured URL, ${OLLAMA_BASE_URL} resolved
    ollama_url = voicegateway.configure(path).config.provider_settings("ollama").resolve().base_url
    problem = ollama_problem(ollama_url, args.ollama_model)
    if problem is None:
        profile, agent_label, llm_note = None, "agent", ""
        print(f"LLM: ollama/{args.ollama_model} at {ollama_url}")
    else:
        profile, agent_label = SCRIPTED_PROFILE, "agent (scripted LLM)"
        llm_note = "\n(the LLM was the testkit's scripted LLM, fake/scripted: no Ollama was used)"
        print(f"{problem}; using the testkit's scripted LLM (fake/scripted)")
    gateway = voicegateway.configure(path, profile=profile)

    print("speaking the caller's lines with Piper...", flush=True)
    utterances = caller_voice(CALLER)
    print("\nconversation (Whisper hears, the LLM answers, Piper speaks):")
    asyncio.run(converse(utterances, agent_label))
    gateway.spooler.flush()  # on disk now, not in 0.25 s

    records = cost_report(gateway.config.storage, started, args.what_if, llm_note)
    print(f"\ntook {time.perf_counter() - clock:.1f} s. Again, from the ledger:")
    print(f"  voicegw costs --config {path} --by modality,provider,model --what-if {args.what_if}")
    return 0 if records else 1


if __name__ == "__main__":
    sys.exit(main())
