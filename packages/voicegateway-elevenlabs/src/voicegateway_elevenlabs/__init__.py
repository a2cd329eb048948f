"""VoiceGateway provider ``elevenlabs``: text-to-speech through ``livekit-plugins-elevenlabs``.

The hooks live in :mod:`voicegateway_elevenlabs.plugin`; nothing here imports LiveKit until a
model is built.
"""
