"""VoiceGateway provider ``piper``: text-to-speech in process with piper-tts.

The hooks live in :mod:`voicegateway_piper.plugin`; the LiveKit ``tts.TTS`` is
:class:`voicegateway_piper.tts.PiperTTS`. Nothing here imports LiveKit or the engine until a
voice is built.
"""
