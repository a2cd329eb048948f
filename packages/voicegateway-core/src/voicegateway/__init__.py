"""VoiceGateway (placeholder during bootstrap)."""
from voicegateway._version import __version__
