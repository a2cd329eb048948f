"""VoiceGateway provider ``kokoro``: text-to-speech in process with kokoro-onnx.

The hooks live in :mod:`voicegateway_kokoro.plugin`; the LiveKit ``tts.TTS`` is
:class:`voicegateway_kokoro.tts.KokoroTTS`. Nothing here imports LiveKit or the engine until a
voice is built.
"""
