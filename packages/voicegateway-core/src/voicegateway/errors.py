"""Errors an agent or operator sees. Each message says what to fix; none carries a secret.

Every error VoiceGateway raises on purpose is a :class:`VoiceGatewayError`, wherever it is
defined (the config's, the ledger's, reconcile's and the policies' live beside the code that
raises them), so one ``except VoiceGatewayError`` tells our messages from a bug, and ``voicegw``
has one error path for them all (``cli.main``).
"""

from __future__ import annotations

from typing import ClassVar


class VoiceGatewayError(Exception):
    """Base class for every error VoiceGateway raises on purpose."""

    bad_input: ClassVar[bool] = True
    """A mistake the user fixes in what they gave (voicegw.yaml, a value, a file): ``voicegw``
    exits 2. False for a state of the machine (a ledger another process holds, or one too new),
    where it exits 1."""

    def problems(self) -> list[str]:
        """One line per problem, for ``voicegw`` to print."""
        return [str(self)]


class PluginError(VoiceGatewayError):
    """A provider plugin could not be loaded (missing dependency, import error, bad contract)."""


class ProviderUnavailable(VoiceGatewayError):
    """No provider can serve a model: not installed, failed to load, or has no key."""


class ModelNotFound(VoiceGatewayError):
    """A model name is neither a ``models:`` alias nor a ``provider/model`` string."""
