"""VoiceGateway provider ``deepgram``: streaming STT and TTS through ``livekit-plugins-deepgram``.

The hooks live in :mod:`voicegateway_deepgram.plugin`; nothing here imports LiveKit until a model
is built.
"""
