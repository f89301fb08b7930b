"""A request that needs several people to approve it: the rule (``Quorum``), the votes cast
(``Ballot``), where they stand (``Tally``) and what one vote did (``Vote``). No I/O here.

The rule: ``k`` approvals from distinct people (of ``of``, or of anyone allowed to answer when
``of`` is None) approve the request, the ``k``-th approver deciding; with ``veto`` any rejection
rejects it at once; and when ``k`` approvals can no longer be reached (too many of ``of`` have
rejected) it is rejected. The run's requester does not vote where the request forbids them to
answer (``allow_requester=False``), nor count among those who could. The store
(``_store.voting``) records each vote and counts under the request's row lock, so two votes at
the same instant are counted one after the other and the rule is met exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from hitl_notebook._core.values import check_texts

__all__ = ["Ballot", "Quorum", "Tally", "count", "voter_refusal"]


@dataclass(frozen=True)
class Quorum:
    """``k`` approvals from distinct people decide a request; with ``veto`` one rejection does.

    >>> agent.request_approval("Ship v2?", quorum=hitl.Quorum(2, of=["alice", "bob", "carol"]))

    ``of``: who may vote (None: anyone allowed to answer the request, its assignees if it names
    them). People vote with ``hitl.vote`` (or the widget's buttons, ``hitl vote``, ``POST
    /requests/{id}/votes``); an answer with ``respond`` is refused.
    """

    k: int
    of: tuple[str, ...] | None = None
    veto: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"A quorum needs k >= 1 approvals, not {self.k!r}")
        if self.of is None:
            return
        if isinstance(self.of, str):
            raise TypeError(f"of is a list of people, not the string {self.of!r}")
        people = tuple(self.of)
        check_texts(people, "a voter")
        if len(set(people)) != len(people) or not all(p.strip() for p in people):
            raise ValueError(f"of lists distinct, non-empty names, not {list(people)}")
        if self.k > len(people):
            raise ValueError(f"{self.k} approvals cannot come from {len(people)} people {people}")
        object.__setattr__(self, "of", people)

    def as_json(self) -> dict[str, Any]:
        """What the request stores (in its ``spec``)."""
        return {"k": self.k, "of": None if self.of is None else list(self.of), "veto": self.veto}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Quorum:
        """The quorum a request stored."""
        of = data.get("of")
        return cls(int(data["k"]), None if of is None else tuple(of), bool(data.get("veto", True)))

    @property
    def rule(self) -> str:
        """``2 of 3 approvals (alice, bob, carol); one rejection vetoes``: the rule in words."""
        approvals = "approval" if self.k == 1 else "approvals"
        who = (
            f"{self.k} {approvals} from different people"
            if self.of is None
            else f"{self.k} of {len(self.of)} {approvals} ({', '.join(self.of)})"
        )
        return who + ("; one rejection vetoes" if self.veto else "")


class Ballot(BaseModel):
    """One person's vote on a quorum request."""

    model_config = ConfigDict(frozen=True)

    voter: str
    approve: bool
    channel: str
    """``python``, ``cli``, ``widget``, ``http``..."""
    at: datetime
    comment: str | None = None

    @property
    def word(self) -> str:
        """``approved`` or ``rejected``."""
        return "approved" if self.approve else "rejected"


@dataclass(frozen=True)
class Tally:
    """Where the votes on a quorum request stand, and what they decide (if anything yet)."""

    quorum: Quorum
    ballots: tuple[Ballot, ...]
    outcome: Literal["approved", "rejected"] | None
    """What the votes decide (None: not yet)."""
    decided_by: str | None
    """The ``k``-th approver, the vetoer, or whose rejection made the quorum unreachable."""
    reason: str | None
    """Why the votes decide, in words (the decision's comment)."""

    @property
    def approvals(self) -> list[str]:
        """Who approved, in the order they voted."""
        return [b.voter for b in self.ballots if b.approve]

    @property
    def rejections(self) -> list[str]:
        """Who rejected, in the order they voted."""
        return [b.voter for b in self.ballots if not b.approve]

    @property
    def progress(self) -> str:
        """``1 of 2 approvals; rejected by carol``: how far the votes are."""
        text = f"{len(self.approvals)} of {self.quorum.k} approvals"
        if self.rejections:
            text += f"; rejected by {', '.join(self.rejections)}"
        return text


def voter_refusal(
    quorum: Quorum, voter: str | None, *, requester: str | None, allow_requester: bool
) -> str | None:
    """Why ``voter`` may not vote (None: they may): anonymous, not one of ``of``, or the run's
    requester where the request forbids them to answer."""
    if voter is None:
        return "a vote names its voter, and this one names nobody"
    if quorum.of is not None and voter not in quorum.of:
        return f"it needs votes from {', '.join(quorum.of)}"
    if not allow_requester and voter == requester:
        return "they started this run and the request does not let its requester vote"
    return None


def count(
    quorum: Quorum,
    ballots: Sequence[Ballot],
    *,
    requester: str | None = None,
    allow_requester: bool = True,
) -> Tally:
    """Count ``ballots`` (oldest first, one per person) against ``quorum``."""
    cast = tuple(ballots)
    approvals = [b.voter for b in cast if b.approve]
    rejections = [b.voter for b in cast if not b.approve]
    k = quorum.k
    if quorum.veto and rejections:
        return Tally(quorum, cast, "rejected", rejections[0], f"vetoed by {rejections[0]}")
    if len(approvals) >= k:
        voters = ", ".join(approvals[:k])
        return Tally(quorum, cast, "approved", approvals[k - 1], f"approved by {voters}")
    if quorum.of is not None:
        eligible = [p for p in quorum.of if allow_requester or p != requester]
        if k - len(approvals) > len(eligible) - len(cast):
            reason = f"{k} approvals can no longer be reached (rejected by {', '.join(rejections)})"
            last = cast[-1].voter if cast else None
            return Tally(quorum, cast, "rejected", last, reason)
    return Tally(quorum, cast, None, None, None)
