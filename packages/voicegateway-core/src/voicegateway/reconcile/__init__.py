"""``voicegw reconcile``: our records against the providers' own usage exports and invoices.

- :mod:`.billed`: :class:`~.billed.BilledUsage` (one line of a provider's bill),
  :class:`~.billed.UsageReader` (a format, registered by provider plugins through the
  ``register_usage_readers`` hook), :class:`~.billed.ExportError`.
"""
