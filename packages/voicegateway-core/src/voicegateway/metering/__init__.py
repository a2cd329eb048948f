"""Metering: every call through VoiceGateway becomes usage records that pass a middleware chain.

- :mod:`.records`: the ``Call`` and ``UsageRecord`` shapes.
- :mod:`.meters`: default unit meters, from LiveKit metrics events to billable units.
- :mod:`.middleware`: the chain every call passes, and the built-in steps.
- :mod:`.recorder`: where records go (in memory for now).
- :mod:`.instrument`: the LiveKit side, hooking a plugin instance's events to calls.
"""
