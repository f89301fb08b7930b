"""DBOS's tables, as far as the SDK reads and writes them, and the run states and queue it names.

Copied from DBOS's own schema (the contract test compares the columns with DBOS's tables).
"""

from __future__ import annotations

import sqlalchemy as sa

DBOS_SCHEMA = "dbos"
"""DBOS's schema on Postgres (SQLite has none; the SDK's SQLite engine maps it away)."""

PARKED_STATE = "DELAYED"
ACTIVE_STATES = ("PENDING", "ENQUEUED", PARKED_STATE)
"""Workflow states of a run that can still wait for a human (ENQUEUED while being dispatched,
DELAYED while parked)."""
INTERNAL_QUEUE = "_dbos_internal_queue"
"""DBOS's internal queue (``dbos._utils.INTERNAL_QUEUE_NAME``): parked runs wait on it."""

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
    sa.Column("queue_name", sa.Text),
    sa.Column("delay_until_epoch_ms", sa.BigInteger),
    sa.Column("owner_xid", sa.Text),
    sa.Column("started_at_epoch_ms", sa.BigInteger),
    sa.Column("class_name", sa.Text),
    sa.Column("config_name", sa.Text),
    sa.Column("application_id", sa.Text),
    sa.Column("authenticated_user", sa.Text),
    sa.Column("authenticated_roles", sa.Text),
    sa.Column("assumed_role", sa.Text),
    sa.Column("workflow_timeout_ms", sa.BigInteger),
    sa.Column("workflow_deadline_epoch_ms", sa.BigInteger),
    sa.Column("deduplication_id", sa.Text),
    sa.Column("priority", sa.Integer),
    sa.Column("serialization", sa.Text),
    sa.Column("queue_partition_key", sa.Text),
    sa.Column("parent_workflow_id", sa.Text),
    sa.Column("creator_xid", sa.Text),
    sa.Column("schedule_name", sa.Text),
)


workflow_input = sa.Table(
    "workflow_input",
    _dbos_metadata,
    sa.Column("workflow_uuid", sa.Text, primary_key=True),
    sa.Column("inputs", sa.Text),
    sa.Column("retention_timestamp", sa.BigInteger),
)


notifications = sa.Table(
    "notifications",
    _dbos_metadata,
    sa.Column("message_uuid", sa.Text, primary_key=True),
    sa.Column("destination_uuid", sa.Text),
    sa.Column("topic", sa.Text),
    sa.Column("message", sa.Text),
    sa.Column("serialization", sa.Text),
    sa.Column("created_at_epoch_ms", sa.BigInteger),
    sa.Column("consumed", sa.Boolean),
)
