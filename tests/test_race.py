"""Two processes race to answer the same 50 requests: exactly one answer wins each request."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import hitl_notebook as hitl
from hitl_notebook import testing
from tests.agents import Chooser

RACER = Path(__file__).parent / "processes" / "racer.py"
REQUESTS = 50
CHOICES = {"racer-a": "red", "racer-b": "blue"}

pytestmark = pytest.mark.slow


@pytest.mark.usefixtures("runtime")
def test_two_processes_answering_the_same_requests_one_wins_each(
    db_url: str, tmp_path: Path
) -> None:
    """Each request has exactly one winner; the loser's error names it; the run got its answer."""
    runs = [Chooser.start() for _ in range(REQUESTS)]
    request_ids = [run.wait_for_request().request_id for run in runs]
    ids_file = tmp_path / "ids.json"
    ids_file.write_text(json.dumps(request_ids))
    go = tmp_path / "go"
    racers = {
        name: subprocess.Popen(
            [sys.executable, RACER, db_url, name, choice, ids_file, tmp_path / f"{name}.ready", go],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, choice in CHOICES.items()
    }
    try:

        def ready() -> bool:
            for name, racer in racers.items():
                if racer.poll() is not None:
                    raise AssertionError(f"{name} exited early: {racer.communicate()[1]}")
            return all((tmp_path / f"{name}.ready").exists() for name in racers)

        testing.wait_until(ready, timeout=60, message="both racers ready")
        go.touch()
        outputs = {name: racer.communicate(timeout=120) for name, racer in racers.items()}
    finally:
        for racer in racers.values():
            if racer.poll() is None:
                racer.kill()
                racer.wait()
    for name, racer in racers.items():
        assert racer.returncode == 0, outputs[name][1]
    lines = {
        name: {line["request_id"]: line for line in map(json.loads, out.splitlines())}
        for name, (out, _) in outputs.items()
    }
    assert all(list(answered) == request_ids for answered in lines.values())

    winners: dict[str, str] = {}
    for request_id in request_ids:
        answers = {name: lines[name][request_id] for name in racers}
        won = [name for name, answer in answers.items() if answer["won"]]
        assert len(won) == 1, answers
        (winner,) = won
        (loser,) = set(racers) - {winner}
        assert answers[winner]["decided_by"] == winner
        assert answers[loser].get("error") == "AlreadyDecidedError", answers[loser]
        assert answers[loser]["decided_by"] == winner
        winners[request_id] = winner

    for run, request_id in zip(runs, request_ids, strict=True):
        winner = winners[request_id]
        assert run.result(timeout=60) == f"chose:{CHOICES[winner]}"
        (decision,) = run.decisions()
        assert (decision.by, decision.value) == (winner, CHOICES[winner])
    decisions = hitl.decisions()
    assert len(decisions) == REQUESTS
    assert dict(zip(decisions["request_id"], decisions["by"], strict=True)) == winners

    # The two processes really answered at the same time: their answering windows overlap.
    windows = {name: [line["at"] for line in answered.values()] for name, answered in lines.items()}
    assert max(min(ats) for ats in windows.values()) < min(max(ats) for ats in windows.values())
    print(_score(winners))


def _score(winners: dict[str, Any]) -> str:
    counts = {name: list(winners.values()).count(name) for name in CHOICES}
    return "requests won: " + ", ".join(f"{name} {count}" for name, count in counts.items())
