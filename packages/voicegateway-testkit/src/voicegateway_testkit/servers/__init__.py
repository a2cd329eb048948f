"""Local provider servers for the real LiveKit plugins: see :class:`FakeServer`.

One per wire protocol: OpenAI (and the OpenAI-compatible Groq and Ollama), Anthropic, Deepgram,
AssemblyAI, Cartesia, ElevenLabs.
"""

from voicegateway_testkit.servers.anthropic import AnthropicServer
from voicegateway_testkit.servers.assemblyai import AssemblyAIServer
from voicegateway_testkit.servers.base import FakeServer, Fault, RecordedRequest
from voicegateway_testkit.servers.cartesia import CartesiaServer
from voicegateway_testkit.servers.deepgram import DeepgramServer
from voicegateway_testkit.servers.elevenlabs import ElevenLabsServer
from voicegateway_testkit.servers.groq import GroqServer
from voicegateway_testkit.servers.ollama import OllamaServer
from voicegateway_testkit.servers.openai import OpenAIServer

__all__ = [
    "AnthropicServer",
    "AssemblyAIServer",
    "CartesiaServer",
    "DeepgramServer",
    "ElevenLabsServer",
    "FakeServer",
    "Fault",
    "GroqServer",
    "OllamaServer",
    "OpenAIServer",
    "RecordedRequest",
]
