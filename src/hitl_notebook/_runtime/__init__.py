"""The only place that configures and launches DBOS: notebook safety (the kernel's event loop,
threads), application version and executor identity, the one poller per process, waiting for
answers (hot, then parked), starting many runs at once (``starting``), committing what runs write
at the same moment together (``write_batches``) and retrying transient database errors.

Imports ``_core``, ``_db`` and ``_store``.
"""
