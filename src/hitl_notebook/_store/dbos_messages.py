"""Answers that arrive as DBOS messages: ``DBOS.send(run_id, "confirm")`` reaches a waiting run.

The DBOS guide answers its agents with ``DBOS.send(agent_id, response)``, and ``DBOSClient.send``
does the same from any process, in any language DBOS has a client for. A hitl run never calls
``DBOS.recv``: instead each launched runtime's poller hands the unconsumed messages to runs with
an open request to ``answer_messages``, which answers through the store's one rule (channel
``dbos``) and marks each message consumed, parked runs included (the answer wakes them).

What a message may say:

- a word: ``"confirm"``/``"approve"``/``"yes"`` or ``"deny"``/``"reject"``/``"no"`` for an
  approval or edit, one of the options for a choice, the text of a text request;
- ``True`` or ``False``: approve or reject;
- an object: ``{"response": "confirm"}``, or the answer's own fields (``approve``, ``value``,
  ``choice``, ``text``), with ``by`` (who answers) and ``comment``.

The topic names the request (its id, or its key within the run); a message without a topic
answers the run's one open request. A message that names nobody is anonymous, which requests
with assignees (or that forbid the run's requester) refuse. Every message is kept in the answer
log: ``accepted``, ``late``, or ``refused`` with its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import fields
from typing import Any, NamedTuple

from hitl_notebook._core.errors import AnswerError, DeadlinePassedError, NotFoundError
from hitl_notebook._core.models import Reply, Sender
from hitl_notebook._core.times import now_ms
from hitl_notebook._core.values import check_json, storable
from hitl_notebook._db.answer_log import record_answer
from hitl_notebook._db.dbos_internals import Message, consume_message, messages_to
from hitl_notebook._db.request_records import has_open_request
from hitl_notebook._store.answering import answer
from hitl_notebook._store.store import Store

__all__ = ["CHANNEL", "answer_messages"]

logger = logging.getLogger("hitl_notebook")

CHANNEL = "dbos"
BATCH = 100
"""At most this many messages are answered per call (the poller calls again)."""
_FIELDS = frozenset(field.name for field in fields(Reply)) - {"channel"}
"""What an object message may say: every field of a reply but its channel."""


def answer_messages(store: Store, run_ids: Collection[str] | None = None) -> int:
    """Answer the waiting runs' unconsumed DBOS messages (to ``run_ids``, or to any run);
    returns how many messages were taken."""
    with store.database.autocommit.connect() as conn:
        messages = messages_to(conn, has_open_request, run_ids=run_ids, limit=BATCH)
    for message in messages:
        _answer(store, message)
    return len(messages)


def _answer(store: Store, message: Message) -> None:
    target = message.run_id if message.topic is None else _request_id(message)
    by: str | None = None
    try:
        reply = _read(message)
        by = reply.by
        answer(
            store.database,
            target,
            reply,
            executor_id=store.executor_id,
            hot_waits=store.hot_waits,
        )
    except DeadlinePassedError:
        pass  # recorded as late by the store
    except NotFoundError as error:
        if message.topic is not None:
            return  # the request it names is not asked yet: the message waits for it
        _refuse(store, message, target, by, f"{type(error).__name__}: {error}")
        return
    except AnswerError as error:
        named = getattr(error, "request_id", None)  # the request a run's id stood for
        _refuse(store, message, named or target, by, f"{type(error).__name__}: {error}")
        return
    except ValueError as error:
        _refuse(store, message, target, by, str(error))
        return
    with store.database.engine.begin() as conn:
        consume_message(conn, message.message_id)


def _read(message: Message) -> Reply:
    """The reply a message sends: the answer, who answers and the comment (ValueError if none
    fit)."""
    value = message.value
    if not message.readable:
        raise ValueError(f"the message cannot be read here ({value})")
    if isinstance(value, bool):
        return Reply(approve=value, channel=CHANNEL)
    if isinstance(value, str):
        return Reply(response=value, channel=CHANNEL)
    if not isinstance(value, dict):
        raise ValueError(
            f"a message of type {type(value).__name__} is no answer; send a word such as "
            '"confirm", true/false, or an object such as {"response": "confirm", "by": "alice"}'
        )
    unknown = sorted(str(key) for key in value if key not in _FIELDS)
    if unknown:
        raise ValueError(
            f"the message has fields no answer has ({', '.join(unknown)}); "
            f"use {', '.join(sorted(_FIELDS))}"
        )
    for name in ("by", "comment", "response", "choice", "text"):
        if value.get(name) is not None and not isinstance(value[name], str):
            raise ValueError(f"{name} must be text, not {type(value[name]).__name__}")
    given = {name: value[name] for name in _FIELDS if value.get(name) is not None}
    return Reply(**given, channel=CHANNEL)


def _request_id(message: Message) -> str:
    """The request a topic names: its id, or its key within the run."""
    assert message.topic is not None
    prefix = f"{message.run_id}."
    return message.topic if message.topic.startswith(prefix) else prefix + message.topic


def _refuse(store: Store, message: Message, target: str, by: str | None, reason: str) -> None:
    """Consume a message no request takes, and keep it in the answer log with the reason."""
    logger.info("hitl: refused DBOS message %s to %s: %s", message.message_id, target, reason)
    readable = message.readable and _is_json(message.value)
    kept = message.value if readable else storable(repr(message.value))
    with store.database.engine.begin() as conn:
        if not consume_message(conn, message.message_id):
            return  # another process took it
        sender = Sender(
            by=None if by is None else storable(by), channel=CHANNEL, comment=None, at_ms=now_ms()
        )
        record_answer(
            conn,
            _Target(storable(target), message.run_id),
            {"message": kept},
            sender,
            result="refused",
            reason=storable(reason),
        )


class _Target(NamedTuple):
    """Where a refused message is logged: the request it named, or the run."""

    request_id: str
    run_id: str


def _is_json(value: Any) -> bool:
    try:
        check_json(value, "message")
    except ValueError:
        return False
    return True
