"""VoiceGateway provider ``assemblyai``: Universal-Streaming STT through
``livekit-plugins-assemblyai``.

The hooks live in :mod:`voicegateway_assemblyai.plugin`; nothing here imports LiveKit until a model
is built.
"""
