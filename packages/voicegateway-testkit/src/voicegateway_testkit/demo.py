"""``hatch run demo``: a real AgentSession conversation through voicegateway.inference, offline.

The STT, LLM and TTS are the real ``livekit.plugins.deepgram`` and ``livekit.plugins.openai``
classes. They talk, over real HTTP and websockets, to local servers from this testkit that speak
Deepgram's and OpenAI's wire protocols, so the demo needs no network and no keys. The caller's
"speech" is a tone the fake Deepgram transcribes from a script, and the LLM's replies are scripted.
Everything VoiceGateway metered is printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import textwrap
from datetime import UTC, datetime
from pathlib import Path

CALLER = ["I'd like a table for two tonight.", "Seven o'clock, please.", "That's all, thanks."]
AGENT = [
    "Happy to help. What time would you like?",
    "Booked: a table for two at seven tonight.",
    "You're welcome. Enjoy your evening!",
]


def _config(openai_url: str, deepgram_url: str) -> str:
    return textwrap.dedent(f"""\
        # written by the demo: both providers point at local fake servers
        default_project: demo
        providers:
          openai: {{api_key: demo-openai-key, base_url: "{openai_url}/v1"}}
          deepgram: {{api_key: demo-deepgram-key, base_url: "{deepgram_url}/v1"}}
        projects:
          demo: {{}}
        models:
          listener: deepgram/nova-3
          brain: openai/gpt-4o-mini
          voice: deepgram/aura-2:andromeda-en
    """)


async def converse(turns: int) -> list[str]:
    from livekit.agents import Agent, AgentSession
    from livekit.agents.utils import http_context

    from voicegateway import inference
    from voicegateway_testkit.fakes import FakeAudioInput, FakeAudioOutput

    lines: list[str] = []
    async with http_context.open():
        session = AgentSession(
            stt=inference.STT("listener"),
            llm=inference.LLM("brain"),
            tts=inference.TTS("voice"),
            vad=None,
            turn_handling={"turn_detection": "stt", "endpointing": {"min_delay": 0.0}},
        )

        @session.on("conversation_item_added")
        def _said(event) -> None:
            if event.item.type == "message":  # not agent handoffs or tool calls
                lines.append(f"  {event.item.role:>9}: {event.item.text_content}")

        mic, speaker = FakeAudioInput(), FakeAudioOutput()
        session.input.audio, session.output.audio = mic, speaker
        await session.start(Agent(instructions="You take restaurant bookings."))
        try:
            for turn in range(turns):
                # the caller speaks, then pauses: one utterance for the fake Deepgram
                mic.push_seconds(0.8, frequency=220)
                mic.push_seconds(0.2)
                async with asyncio.timeout(15):
                    while len(speaker.segments) <= turn:  # until the reply has been played
                        await asyncio.sleep(0.02)
        finally:
            await session.aclose()
        await asyncio.sleep(0.2)  # reports that arrive as connections close
    return lines


def report(records) -> str:
    from voicegateway.cli.output import table

    def ms(value):
        return "" if value is None else f"{value:.0f}"

    def units(record) -> str:
        return ", ".join(
            f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
            for k, v in record.units().items()
        )

    rows = [
        [
            r.modality,
            f"{r.provider}/{r.model}",
            units(r),
            ms(r.ttfb_ms),
            ms(r.duration_ms),
            r.status,
            "" if r.cost_usd is None else f"${r.cost_usd:.6f}",
            r.price_source,
        ]
        for r in records
    ]
    headers = ["modality", "model", "units", "ttfb ms", "ms", "status", "cost", "priced by"]
    return table(headers, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo", description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=len(CALLER), help="caller turns (1-3)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)

    import voicegateway
    from voicegateway.cli import main as voicegw
    from voicegateway_testkit.servers import DeepgramServer, OpenAIServer

    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    caller = iter(CALLER)  # then nothing: the silence LiveKit flushes at close is not speech
    with (
        OpenAIServer(reply=AGENT) as openai,
        DeepgramServer(transcript=lambda request: next(caller, "")) as deepgram,
        tempfile.TemporaryDirectory() as tmp,
    ):
        path = Path(tmp) / "voicegw.yaml"
        path.write_text(_config(openai.url, deepgram.url))
        gateway = voicegateway.configure(path)
        print("VoiceGateway demo: Deepgram STT/TTS and OpenAI LLM, real LiveKit plugin classes,")
        print(f"talking to local fake servers ({deepgram.url}, {openai.url}); offline.\n")
        lines = asyncio.run(converse(max(1, min(args.turns, len(CALLER)))))
        records = gateway.records()
        print("conversation:")
        print("\n".join(lines))
        print(f"\nmetered in this process ({len(records)} usage records, priced as recorded):")
        print(report(records))
        gateway.spooler.flush()  # on disk now, not in 0.25 s
        ledger = gateway.config.storage.path
        print(f"\nthe same conversation in the usage ledger ({ledger}):")
        print(f"$ voicegw costs --by modality,provider,model --project demo --since {started}")
        code = voicegw(
            [
                "costs",
                "--config",
                str(path),
                "--by",
                "modality,provider,model",
                "--project",
                "demo",
                "--since",
                started,
            ]
        )
    return code if records else 1


if __name__ == "__main__":
    raise SystemExit(main())
