"""Defining agent classes: a run method is required, inherited ones count, names default."""

from __future__ import annotations

import pytest

import hitl_notebook as hitl


def test_an_agent_without_run_is_refused_at_definition() -> None:
    """Forgetting run() fails when the class is written, not when a run starts."""
    with pytest.raises(TypeError, match="must define run"):

        class Forgetful(hitl.Agent):
            pass


def test_an_inherited_run_counts_and_the_name_is_the_class_name() -> None:
    """A subclass may reuse its parent's run; each class is known by its own name."""

    class Base(hitl.Agent):
        def run(self) -> str:
            return "base"

    class Child(Base):
        pass

    assert (Base.agent_name, Child.agent_name) == ("Base", "Child")
