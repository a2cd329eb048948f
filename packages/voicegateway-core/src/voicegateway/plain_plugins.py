"""Meter an ``AgentSession`` built from plain ``livekit.plugins.*`` objects.

Teams with an agent already in production start here: ``voicegateway.attach(session)`` leaves
their STT, LLM and TTS objects in place and meters them through the same middleware chain as
``voicegateway.inference``. It patches the call methods (``chat``, ``stream``, ``synthesize``,
``recognize``) of those instances, not of their classes, so nothing else in the process changes.
Objects already metered (``inference`` wrappers, their plugins, anything attached before) are
skipped, so a call is never recorded twice. Fallback adapters are attached child by child.
"""

from __future__ import annotations

from typing import Any

from voicegateway.gateway import get_gateway
from voicegateway.metering.instrument import Instrument
from voicegateway.metering.meters import DEFAULT_METERS

METERED = "_voicegateway_metered"
"""Set on a plugin object once an instrument meters it."""

_CHILDREN = {"stt": "_stt_instances", "llm": "_llm_instances", "tts": "_tts_instances"}


def attach(
    session: Any, *, project: str | None = None, providers: dict[str, str] | None = None
) -> list[str]:
    """Meter ``session.stt``, ``session.llm`` and ``session.tts``; returns what was attached.

    ``project`` bills the calls to a project (default: as for ``inference``). ``providers`` names
    the provider id per modality where the plugin's module does not tell it (an OpenAI-compatible
    client pointed at Ollama: ``providers={"llm": "ollama"}``).
    """
    gateway = get_gateway()
    project = gateway.project_name(project)
    attached = []
    for modality in ("stt", "llm", "tts"):
        for obj in _leaves(getattr(session, modality, None), modality):
            if getattr(obj, METERED, False):
                continue
            provider, meter, spec_model = _provider_of(
                gateway, obj, modality, (providers or {}).get(modality)
            )
            instrument = Instrument(
                None,
                obj,
                modality=modality,
                provider=provider,
                model=spec_model,
                project=project,
                chain=gateway.chain,
                meter=meter,
            )
            _patch(obj, modality, instrument)
            attached.append(f"{modality}:{provider}/{spec_model}")
    return attached


def _leaves(obj: Any, modality: str) -> list[Any]:
    if obj is None or isinstance(obj, str):
        return []
    children = getattr(obj, _CHILDREN[modality], None)
    if isinstance(children, list):  # a FallbackAdapter: each child serves its own calls
        return [leaf for child in children for leaf in _leaves(child, modality)]
    return [obj]


def _provider_of(gateway, obj: Any, modality: str, named: str | None):
    spec = (
        gateway.plugins.provider(named)
        if named
        else gateway.plugins.provider_for_module(type(obj).__module__)
    )
    if spec is None:
        # Not a provider VoiceGateway knows: recorded under LiveKit's own provider name.
        return str(obj.provider).lower(), DEFAULT_METERS[modality], obj.model
    meter = spec.meters.get(modality) or DEFAULT_METERS[modality]
    return spec.id, meter, spec.billed_name(modality, obj.model)


def _patch(obj: Any, modality: str, instrument: Instrument) -> None:
    """Route the instance's call methods through ``instrument``: each call is one
    ``MeteredCall``, as for the ``inference`` wrappers (LiveKit gives no other hook into a plain
    plugin object)."""
    setattr(obj, METERED, True)
    if modality == "llm":
        chat = obj.chat
        obj.chat = lambda **kw: instrument.stream_call(
            lambda: chat(**kw), chat_ctx=kw.get("chat_ctx")
        )
        return
    if obj.capabilities.streaming:
        stream = obj.stream
        obj.stream = lambda **kw: instrument.stream_call(lambda: stream(**kw))
    if modality == "tts":
        synthesize = obj.synthesize
        obj.synthesize = lambda text, **kw: instrument.stream_call(
            lambda: synthesize(text, **kw), text=text
        )
    else:
        from livekit.agents.utils.audio import calculate_audio_duration

        recognize = obj.recognize
        obj._recognize_metrics_needed = True  # keep LiveKit's batch report: it is what we meter

        async def metered_recognize(buffer, **kw):
            return await instrument.recognize_call(
                lambda: recognize(buffer, **kw), calculate_audio_duration(buffer)
            )

        obj.recognize = metered_recognize
