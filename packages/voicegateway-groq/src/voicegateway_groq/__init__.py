"""VoiceGateway provider ``groq``: LLMs and Whisper transcription through ``livekit-plugins-groq``.

The hooks live in :mod:`voicegateway_groq.plugin`, which the core imports through the
``voicegateway`` entry point; nothing here imports the OpenAI SDK until a model is built.
"""
