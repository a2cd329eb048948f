"""VoiceGateway provider ``cartesia``: Sonic text-to-speech through ``livekit-plugins-cartesia``.

The hooks live in :mod:`voicegateway_cartesia.plugin`; nothing here imports LiveKit until a model
is built.
"""
