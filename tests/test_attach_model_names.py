"""attach() and inference name one billed model the same way: a plain Deepgram Aura-2 TTS
(which names itself aura-2-andromeda-en) and the inference wrappers all record aura-2."""

from __future__ import annotations

from livekit.agents import AgentSession
from livekit.plugins import deepgram as lk_deepgram

import voicegateway
from voicegateway import inference

from .conftest import DEEPGRAM_KEY


async def _speak(tts) -> None:
    async with tts.synthesize("Your table is booked.") as stream:
        async for _ in stream:
            pass


async def test_attach_and_inference_record_one_name_per_model(cloud, deepgram_server, lk_http):
    plain = lk_deepgram.TTS(
        model="aura-2-andromeda-en",
        api_key=DEEPGRAM_KEY,
        base_url=f"{deepgram_server.url}/v1/speak",
    )
    assert voicegateway.attach(AgentSession(tts=plain)) == ["tts:deepgram/aura-2"]
    for tts in (
        plain,
        inference.TTS("deepgram/aura-2:andromeda-en"),
        inference.TTS("deepgram/aura-2-andromeda-en"),
    ):
        await _speak(tts)
    records = [r for r in cloud.records() if r.characters]
    assert len(records) == 3
    assert {(r.provider, r.model) for r in records} == {("deepgram", "aura-2")}
    assert all(r.cost_usd is not None and r.cost_usd > 0 for r in records)  # priced as the family
