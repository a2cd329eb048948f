"""pytest fixtures for VoiceGateway tests (filled in below)."""
