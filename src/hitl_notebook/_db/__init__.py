"""The SDK's tables and statements, database choice and connections, and the one quarantine for
DBOS internals read or written directly (``dbos_internals``, pinned by a contract test).

Imports ``_core`` only.
"""
