"""``voicegw reconcile``: our records against the providers' own usage exports and invoices
(docs/reconcile.md).

- :mod:`.billed`: :class:`~.billed.BilledUsage` (one line of a provider's bill),
  :class:`~.billed.UsageReader` (a format, registered by provider plugins through the
  ``register_usage_readers`` hook), :class:`~.billed.ExportError`.
- :mod:`.exports`: the checked JSON reading, error style and lazy hook imports readers share.
- :mod:`.generic`: the generic CSV/JSON format, for providers without a reader.
- :mod:`.run`: which reader reads each file, what the files cover, the provider's totals.
- :mod:`.compare`: ours against theirs per key, and the cause of each mismatch.
- :mod:`.overrides`: the ``pricing:`` overrides proposed for ``rate`` mismatches.

Standard library only (the ledger query is ``voicegateway.ledger.queries.billed_by_day``).
"""
