"""VoiceGateway provider ``openai``: LLM, STT and TTS through ``livekit-plugins-openai``.

The hooks live in :mod:`voicegateway_openai.plugin`, which the core imports through the
``voicegateway`` entry point; nothing here imports the OpenAI SDK until a model is built.
"""
