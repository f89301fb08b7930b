"""What a simulated human does with a request: rules that match requests and say how to answer.

A rule matches a request (``match``: agent, kind, title globs and any predicate) and gives its
``Action``: the keywords of ``Store.respond`` to send (or none: the deadline passes), how long
after the request was made, and whether to answer even past the deadline. ``Replay`` is the rule
that answers as a decisions frame recorded, each recorded decision once.
"""

from __future__ import annotations

import fnmatch
import inspect
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, TypedDict

from hitl_notebook._core.models import Outcome, Request, RequestKind
from hitl_notebook._core.times import Duration, duration_seconds
from hitl_notebook._store.store import Store

__all__ = [
    "RULE_OPTIONS",
    "Action",
    "Fields",
    "Filters",
    "Matcher",
    "Replay",
    "Rule",
    "RuleOptions",
    "When",
    "check_keywords",
    "match",
    "respond_keywords",
    "simple",
]

Matcher = Callable[[Request], bool]
"""Whether a rule applies to a request."""
Fields = Callable[[Request], dict[str, Any]]
"""The keywords of ``Store.respond`` that answer a request (``approve``, ``value``, ...)."""
When = Matcher | None

_NOT_ANSWER_KEYWORDS = {"self", "target", "by", "comment", "channel"}


def respond_keywords() -> set[str]:
    """The answer keywords ``Store.respond`` takes (``approve``, ``choice``, ``text``, ...)."""
    return set(inspect.signature(Store.respond).parameters) - _NOT_ANSWER_KEYWORDS


def check_keywords(fields: Iterable[str]) -> None:
    """TypeError naming what ``Store.respond`` takes, for an answer keyword it does not."""
    unknown = sorted(set(fields) - respond_keywords())
    if unknown:
        raise TypeError(
            f"hitl.respond takes no {', '.join(unknown)}; "
            f"an answer is made of {', '.join(sorted(respond_keywords()))}."
        )


def match(
    when: When = None,
    *,
    agent: str | None = None,
    kind: RequestKind | str | None = None,
    title: str | None = None,
) -> Matcher:
    """A matcher for requests: of ``agent`` and with ``title`` (globs: ``"Refund*"``), of
    ``kind``, and for which ``when(request)`` is true; with nothing given, every request.

    >>> human.reject(when=testing.match(title="Refund*"), comment="too big")
    """
    wanted_kind = None if kind is None else RequestKind(kind)

    def matches(request: Request) -> bool:
        return (
            (agent is None or fnmatch.fnmatchcase(request.agent, agent))
            and (wanted_kind is None or request.kind is wanted_kind)
            and (title is None or fnmatch.fnmatchcase(request.title, title))
            and (when is None or bool(when(request)))
        )

    return matches


@dataclass(frozen=True)
class Action:
    """How a rule answers one request."""

    fields: Fields | None
    """The answer's keywords for ``Store.respond``; None: never answer (the deadline passes)."""
    after_s: float = 0.0
    """How long after the request was made (on the clock) to answer."""
    late: bool = False
    """Answer only once the deadline has passed (the refusal is recorded)."""
    by: str | None = None
    """Who answers (None: the human's name)."""
    comment: str | None = None

    def due_ms(self, request: Request) -> int | None:
        """When to answer on the clock (epoch ms); None: never."""
        if self.fields is None:
            return None
        due = round(request.requested_at.timestamp() * 1000 + self.after_s * 1000)
        if self.late and request.deadline is not None:
            due = max(due, round(request.deadline.timestamp() * 1000) + 1)
        return due


class Rule(Protocol):
    """Anything that gives the action for a request it applies to."""

    def action_for(self, request: Request) -> Action | None:
        """The action for ``request``, or None when the rule does not apply to it."""


@dataclass(frozen=True)
class Simple:
    """A rule: one action for every request the matcher accepts."""

    matches: Matcher
    action: Action

    def action_for(self, request: Request) -> Action | None:
        return self.action if self.matches(request) else None


class Filters(TypedDict, total=False):
    """The filters every rule takes besides ``when`` (see ``match``)."""

    agent: str | None
    kind: RequestKind | str | None
    title: str | None


class RuleOptions(Filters, total=False):
    """What a rule that answers takes besides ``when``."""

    after: Duration | None
    """Answer that long after the request was made, on the clock."""
    late: bool
    """Answer only once the deadline has passed (the refusal is recorded)."""
    comment: str | None


RULE_OPTIONS = frozenset(RuleOptions.__optional_keys__)


def simple(fields: Fields | None, when: When, options: RuleOptions) -> Simple:
    """A rule from a rule method's arguments; TypeError for an option no rule takes."""
    unknown = sorted(set(options) - RULE_OPTIONS)
    if unknown:
        raise TypeError(
            f"A rule takes no {', '.join(unknown)}; it takes when, {', '.join(sorted(RULE_OPTIONS))}."
        )
    after = options.get("after")
    after_s = 0.0 if after is None else duration_seconds(after, what="after")
    matcher = match(
        when, agent=options.get("agent"), kind=options.get("kind"), title=options.get("title")
    )
    action = Action(
        fields, after_s=after_s, late=options.get("late", False), comment=options.get("comment")
    )
    return Simple(matcher, action)


class Replay:
    """Answers as a decisions frame (``hitl.decisions()``, from any database) recorded, each
    recorded decision once: the decision of the request with the same key in its run (its id
    without the run id) and the same title, else the same title, else the same key; after the
    wait it recorded, by whom it recorded, with its comment. A recorded timeout is not answered."""

    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self._rows = [dict(row) for row in rows]
        missing = {"request_id", "run_id", "title", "outcome"} - set().union(*self._rows)
        if self._rows and missing:
            raise ValueError(
                f"A decisions frame has the columns of hitl.decisions(); this one lacks "
                f"{', '.join(sorted(missing))}."
            )

    def action_for(self, request: Request) -> Action | None:
        key = request_key(request.request_id, request.run_id)
        for wanted in ((key, request.title), (None, request.title), (key, None)):
            for i, row in enumerate(self._rows):
                if wanted[0] not in (None, request_key(row["request_id"], row["run_id"])):
                    continue
                if wanted[1] not in (None, row["title"]):
                    continue
                del self._rows[i]
                return _recorded(row)
        return None


def request_key(request_id: str, run_id: str) -> str:
    """A request's id without its run's id: the same question in another run has the same key."""
    return request_id.removeprefix(f"{run_id}.")


def _recorded(row: Mapping[str, Any]) -> Action:
    outcome = row["outcome"]
    value = _json_value(_present(row.get("value")))
    answer: dict[str, Any] | None
    if outcome == Outcome.TIMED_OUT:
        answer = None
    elif outcome == Outcome.REJECTED:
        answer = {"approve": False}
    elif outcome == Outcome.APPROVED:
        answer = {"approve": True}
    elif outcome == Outcome.EDITED:
        answer = {"approve": True, "value": value}
    elif outcome == Outcome.CHOSE:
        answer = {"choice": value} if isinstance(value, str) else {"choices": value}
    elif row.get("kind") == RequestKind.TEXT:
        answer = {"text": value}
    else:
        answer = {"value": value}
    wait = _present(row.get("wait"))
    return Action(
        None if answer is None else _constant(answer),
        after_s=wait.total_seconds() if isinstance(wait, timedelta) else 0.0,
        by=_present(row.get("by")),
        comment=_present(row.get("comment")),
    )


def _constant(answer: dict[str, Any]) -> Fields:
    return lambda _request: dict(answer)


def _json_value(cell: Any) -> Any:
    """A frame's ``value`` cell: JSON text (as ``hitl.decisions()`` shows it) read back."""
    if not isinstance(cell, str):
        return cell
    try:
        return json.loads(cell)
    except ValueError:
        return cell  # a frame made by hand, with the value itself


def _present(value: Any) -> Any:
    """A frame's cell, with pandas' missing values (NaN, NaT, None) as None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if type(value).__name__ in ("NaTType", "NAType"):
        return None
    return value
