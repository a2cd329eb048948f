"""VoiceGateway provider ``whisper``: speech-to-text in process with faster-whisper.

The hooks live in :mod:`voicegateway_whisper.plugin`; the LiveKit ``stt.STT`` is
:class:`voicegateway_whisper.stt.WhisperSTT`. Nothing here imports LiveKit or the engine until a
model is built.
"""
