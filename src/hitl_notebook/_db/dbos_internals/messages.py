"""DBOS messages (``DBOS.send``, ``DBOSClient.send``) read from the ``notifications`` table and
consumed there; a message to a waiting run is taken as an answer (``_store.dbos_messages``).

DBOS is imported inside the functions that call it (see the package's docstring).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, NamedTuple

import sqlalchemy as sa

from hitl_notebook._db.dbos_internals.tables import notifications

MESSAGES_CHANNEL = "dbos_notifications_channel"
"""The Postgres channel on which DBOS announces each message (payload ``<run id>::<topic>``;
``dbos._sys_db._dbos_notifications_channel``)."""
NULL_TOPIC = "__null__topic__"
"""The topic DBOS stores for a message sent without one (``dbos._sys_db._dbos_null_topic``)."""


class Message(NamedTuple):
    """A DBOS message to a run, not consumed yet."""

    message_id: str
    run_id: str
    topic: str | None
    """None when it was sent without a topic."""
    value: Any
    """What was sent (read back as DBOS does), or the error that stopped reading it back."""
    readable: bool


def messages_to(
    conn: sa.Connection,
    waiting: Callable[[sa.ColumnElement[str]], sa.ColumnElement[bool]],
    *,
    run_ids: Collection[str] | None,
    limit: int,
) -> list[Message]:
    """The unconsumed messages, oldest first, to runs (``run_ids``, or any) that are
    ``waiting(run_id)``."""
    to = notifications.c.destination_uuid
    chosen = waiting(to) if run_ids is None else sa.and_(to.in_(list(run_ids)), waiting(to))
    rows = conn.execute(
        sa.select(
            notifications.c.message_uuid,
            notifications.c.destination_uuid,
            notifications.c.topic,
            notifications.c.message,
            notifications.c.serialization,
        )
        .where(notifications.c.consumed == sa.false(), chosen)
        .order_by(notifications.c.created_at_epoch_ms, notifications.c.message_uuid)
        .limit(limit)
    ).all()
    from dbos._serialization import DefaultSerializer, deserialize_value  # noqa: PLC0415

    found = []
    for message_id, run_id, topic, raw, serialization in rows:
        try:
            value, readable = deserialize_value(raw, serialization, DefaultSerializer()), True
        except Exception as error:  # a message no process here can read is refused, not fatal
            value, readable = f"{type(error).__name__}: {error}", False
        named = None if topic == NULL_TOPIC else topic
        found.append(Message(message_id, run_id, named, value, readable))
    return found


def consume_message(conn: sa.Connection, message_id: str) -> bool:
    """Mark a message consumed; False if another process consumed it first."""
    taken = conn.execute(
        sa.update(notifications)
        .where(notifications.c.message_uuid == message_id, notifications.c.consumed == sa.false())
        .values(consumed=True)
    )
    return taken.rowcount == 1
