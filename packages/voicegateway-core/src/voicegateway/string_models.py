"""Make string models in ``AgentSession(stt="deepgram/nova-3", ...)`` resolve through VoiceGateway.

``AgentSession`` and ``Agent`` turn strings into objects with
``livekit.agents.inference.STT.from_model_string``, ``TTS.from_model_string`` and
``inference.llm_from_model_string``. :func:`install` points those three at VoiceGateway and
:func:`uninstall` restores them. Realtime and duplex model strings (``openai/gpt-realtime``) still
go to LiveKit: VoiceGateway does not wrap realtime models.
"""

from __future__ import annotations

from typing import Any

_saved: dict[str, Any] = {}


def install() -> None:
    """Route LiveKit's string models through VoiceGateway. Idempotent."""
    if _saved:
        return
    from livekit.agents import inference as lk

    from voicegateway import inference as vg

    _saved.update(
        stt=lk.STT.__dict__["from_model_string"],
        tts=lk.TTS.__dict__["from_model_string"],
        llm=lk.llm_from_model_string,
    )
    original_llm = _saved["llm"]

    def llm_from_model_string(model: str) -> Any:
        if lk.is_realtime_model(model) or lk.is_duplex_model(model):
            return original_llm(model)
        return vg.LLM(model)

    # Replacing LiveKit's classmethods is the point here, and VoiceGateway's wrappers are LiveKit
    # plugins, not its ``inference`` classes: the stubs cannot say so.
    lk.STT.from_model_string = classmethod(lambda cls, model: vg.STT(model))  # type: ignore[method-assign,assignment]
    lk.TTS.from_model_string = classmethod(lambda cls, model: vg.TTS(model))  # type: ignore[method-assign,assignment]
    lk.llm_from_model_string = llm_from_model_string


def uninstall() -> None:
    """Give LiveKit its own string-model resolution back."""
    if not _saved:
        return
    from livekit.agents import inference as lk

    # LiveKit's own classmethods back (see install)
    lk.STT.from_model_string = _saved["stt"]  # type: ignore[method-assign]
    lk.TTS.from_model_string = _saved["tts"]  # type: ignore[method-assign]
    lk.llm_from_model_string = _saved["llm"]
    _saved.clear()
