"""Errors an agent or operator sees. Each message says what to fix; none carries a secret."""

from __future__ import annotations


class VoiceGatewayError(Exception):
    """Base class for every error VoiceGateway raises on purpose."""


class PluginError(VoiceGatewayError):
    """A provider plugin could not be loaded (missing dependency, import error, bad contract)."""


class ProviderUnavailable(VoiceGatewayError):
    """No provider can serve a model: not installed, failed to load, or has no key."""


class ModelNotFound(VoiceGatewayError):
    """A model name is neither a ``models:`` alias nor a ``provider/model`` string."""
