"""VoiceGateway provider ``ollama``: LLMs served by a local Ollama, through its OpenAI-compatible
API and ``livekit-plugins-openai``.

The hooks live in :mod:`voicegateway_ollama.plugin`; nothing here imports LiveKit until a model is
built.
"""
