"""VoiceGateway provider ``anthropic``: Claude LLMs through ``livekit-plugins-anthropic``.

The hooks live in :mod:`voicegateway_anthropic.plugin`, which the core imports through the
``voicegateway`` entry point; nothing here imports the Anthropic SDK until a model is built.
"""
