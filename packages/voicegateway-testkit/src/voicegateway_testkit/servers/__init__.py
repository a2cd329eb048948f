"""Local provider servers for the real LiveKit plugins: see :class:`FakeServer`."""

from voicegateway_testkit.servers.base import FakeServer, Fault, RecordedRequest
from voicegateway_testkit.servers.deepgram import DeepgramServer
from voicegateway_testkit.servers.openai import OpenAIServer

__all__ = ["DeepgramServer", "FakeServer", "Fault", "OpenAIServer", "RecordedRequest"]
