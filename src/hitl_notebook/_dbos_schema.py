"""The parts of DBOS's system tables the SDK reads with SQL, in one place.

DBOS 3.4 has no public query that joins a workflow's state with other rows, and the inbox and the
answer path need exactly that in one round trip. Everything here depends on DBOS's internal
schema; ``tests/test_dbos_contract.py`` fails loudly if an upgrade changes it, and pyproject.toml
pins DBOS to the tested minor release.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["ACTIVE_STATES", "DBOS_SCHEMA", "workflow_status"]

DBOS_SCHEMA = "dbos"
"""DBOS's schema on Postgres (SQLite has none; the SDK's SQLite engine maps it away)."""

ACTIVE_STATES = ("PENDING", "ENQUEUED", "DELAYED")
"""Workflow states of a run that can still wait for a human (ENQUEUED while being recovered)."""

_dbos_metadata = sa.MetaData(schema=DBOS_SCHEMA)

workflow_status = sa.Table(
    "workflow_status",
    _dbos_metadata,
    sa.Column("workflow_uuid", sa.Text, primary_key=True),
    sa.Column("status", sa.Text),
    sa.Column("name", sa.Text),
    sa.Column("executor_id", sa.Text),
    sa.Column("application_version", sa.Text),
    sa.Column("application_name", sa.Text),
    sa.Column("created_at", sa.BigInteger),
    sa.Column("updated_at", sa.BigInteger),
    sa.Column("recovery_attempts", sa.BigInteger),
)
