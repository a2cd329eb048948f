"""Metering: every call through VoiceGateway becomes usage records that pass a middleware chain,
ending in the spool of :mod:`voicegateway.ledger`. The shapes it works with, ``Call`` and
``UsageRecord``, are :mod:`voicegateway.records` (the bottom layer: pricing and the ledger use
them too).

- :mod:`.meters`: default unit meters, from LiveKit metrics events to billable units.
- :mod:`.middleware`: the chain every call passes, and the built-in steps.
- :mod:`.estimate`: what LiveKit reports as zero but the provider bills (interrupted prompts).
- :mod:`.pricing_step`: the cost step, through :mod:`voicegateway.pricing`.
- :mod:`.instrument`: the LiveKit side, hooking a plugin instance's events to calls.
"""
