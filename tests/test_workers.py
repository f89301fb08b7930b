"""Workers on one database: they share the queue, survive restarts, and hand over a dead peer's runs.

Workers are `hitl worker` child processes running tests/processes/worker_agents.py; the test
process queues runs with only a database URL and answers them over HTTP, as a service would.
Side effects are lines in a file (outside the database), so "exactly once" is counted for real.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook.http import TokenAuth, create_app
from tests.kernels import ChildProcesses
from tests.processes.worker_agents import Queued

# Not alongside the schedule's scale test (see there).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("processes")]

AGENTS = Path(__file__).parent / "processes" / "worker_agents.py"
HITL = str(Path(sys.executable).with_name("hitl"))
TOKENS = {"bob": "bob-token-4567"}
READY = re.compile(r"hitl worker (\S+) ready")


class Workers(ChildProcesses):
    """Starts and kills `hitl worker` processes."""

    agents = AGENTS
    """The module of agents the workers run."""

    def start(
        self, name: str, concurrency: int = 150, *extra: str
    ) -> tuple[subprocess.Popen[str], str]:
        """Start a worker; returns its process and executor id once it is ready."""
        env = {**os.environ, "HITL_TEST_COUNTER": str(self.counter)}
        command = [HITL, "worker", str(self.agents), "--db", self.db_url, "--name", name]
        process = subprocess.Popen(
            [*command, "--concurrency", str(concurrency), *extra],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.processes.append(process)
        assert process.stdout is not None
        for line in process.stdout:
            if found := READY.search(line):
                return process, found.group(1)
        raise AssertionError(f"worker {name} exited with {process.wait()} before it was ready")

    def lines(self) -> Counter[str]:
        return Counter(self.counted())


def prepare(url: str) -> str:
    """Create and migrate the database once, as a first `hitl.launch` would."""
    with testing.launched(url, executor="setup"):
        pass
    return url


@pytest.fixture
def prepared_db(db_url: str) -> str:
    """Each kind of database, ready for workers."""
    return prepare(db_url)


@pytest.fixture
def workers(prepared_db: str, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(prepared_db, tmp_path)
    yield started
    started.close()


@pytest.fixture
def pg_workers(tmp_path: Path) -> Iterator[Workers]:
    """Workers on a fresh Postgres database: several machines' workers share one Postgres."""
    url = prepare(testing.fresh_database("postgres"))
    started = Workers(url, tmp_path)
    yield started
    started.close()
    testing.drop_database(url)


def wait_all_waiting(store: hitl.Store, count: int) -> None:
    testing.wait_until(
        lambda: len(store.inbox()) == count, timeout=120, message=f"{count} requests waiting"
    )


def answer_over_http(client: TestClient, run_ids: list[str]) -> None:
    for run_id in run_ids:
        answered = client.post(
            f"/agents/{run_id}/respond",
            json={"approve": True},
            headers={"Authorization": f"Bearer {TOKENS['bob']}"},
        )
        assert answered.status_code == 200, answered.text


@pytest.mark.postgres
def test_two_workers_share_200_runs_and_a_dead_ones_runs_are_recovered_by_command(
    pg_workers: Workers,
) -> None:
    """SIGKILL one of two workers mid-run, `hitl recover --from` it: every run finishes once."""
    workers, prepared_db = pg_workers, pg_workers.db_url
    a, a_id = workers.start("worker-a")
    b, b_id = workers.start("worker-b")
    store = hitl.connect(prepared_db)
    run_ids = store.enqueue_many("Queued", [((n,), {}) for n in range(200)], requester="carol")
    wait_all_waiting(store, 200)
    taken = Counter(
        store.database.client.retrieve_workflow(r).get_status().executor_id for r in run_ids
    )
    assert set(taken) == {a_id, b_id}, taken  # both workers took a share

    with TestClient(create_app(store, TokenAuth(TOKENS))) as client:
        answer_over_http(client, run_ids[:50])  # mid-run: some finish, the rest wait
        for run_id in run_ids[:50]:
            store.result(run_id, timeout=60)
        workers.kill(a)
        listed = subprocess.run(
            [HITL, "recover", "--db", prepared_db],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert f"{a_id}  " in listed.stdout
        assert f"(gone: hitl recover --from {a_id})" in listed.stdout
        assert f"{b_id}  " in listed.stdout
        recovered = subprocess.run(
            [HITL, "recover", "--from", a_id, "--db", prepared_db],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert recovered.returncode == 0, recovered.stderr
        assert "returned to the queue" in recovered.stdout
        answer_over_http(client, run_ids[50:])

    results = {run_id: store.result(run_id, timeout=120) for run_id in run_ids}
    assert sorted(r["order"] for r in results.values()) == list(range(200))
    assert {r["by"] for r in results.values()} == {"bob"}
    assert {r["pid"] for r in results.values() if r["order"] >= 50} <= {a.pid, b.pid}
    late_of_a = [r for r in run_ids[50:] if results[r]["pid"] == a.pid]
    assert late_of_a == [], "a killed worker cannot finish runs"
    lines = workers.lines()
    for run_id in run_ids:
        assert (lines[f"before {run_id}"], lines[f"after {run_id}"]) == (1, 1), run_id
    assert sum(lines.values()) == 400


def test_a_restarted_worker_recovers_its_own_runs(workers: Workers, prepared_db: str) -> None:
    """A worker killed while its runs wait gets its identity back on restart and finishes them."""
    first, first_id = workers.start("worker-a", concurrency=10)
    store = hitl.connect(prepared_db)
    run_ids = [store.enqueue("Queued", n, requester="carol") for n in range(3)]
    wait_all_waiting(store, 3)
    workers.kill(first)
    again, again_id = workers.start("worker-a", concurrency=10)
    assert again_id == first_id
    for run_id in run_ids:
        store.respond(run_id, approve=True, by="bob")
    assert {store.result(r, timeout=60)["pid"] for r in run_ids} == {again.pid}
    lines = workers.lines()
    assert [lines[f"after {r}"] for r in run_ids] == [1, 1, 1]


def test_recover_refuses_a_live_worker_and_the_requester_rule_holds(
    workers: Workers, prepared_db: str
) -> None:
    """`hitl recover --from` a live worker is refused; the requester of a queued run may not approve."""
    _, worker_id = workers.start("worker-a", concurrency=10)
    store = hitl.connect(prepared_db)
    run_id = store.enqueue("Queued", 1, requester="carol")
    wait_all_waiting(store, 1)
    refused = subprocess.run(
        [HITL, "recover", "--from", worker_id, "--db", prepared_db],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 1
    assert "is alive" in refused.stderr
    with pytest.raises(hitl.NotAllowedError):
        store.respond(run_id, approve=True, by="carol")
    store.respond(run_id, approve=True, by="bob")
    assert store.result(run_id, timeout=60)["by"] == "bob"


def test_an_agent_class_enqueues_for_the_workers(
    workers: Workers, prepared_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Agent.enqueue from code that has the class but runs nothing: a worker runs it."""
    monkeypatch.setenv("HITL_DATABASE_URL", prepared_db)
    _, _ = workers.start("worker-a", concurrency=10)
    queued = Queued.enqueue(7, run_id="by-class", requester="carol")
    assert queued.id == "by-class"
    request = queued.wait_for_request(timeout=60)
    assert (request.requester, request.title) == ("carol", "Ship order 7?")
    queued.approve(by="bob")
    assert queued.result(timeout=60)["order"] == 7


def test_a_parked_run_is_taken_by_any_live_worker_when_answered(
    workers: Workers, prepared_db: str
) -> None:
    """A run parked by a worker that died since resumes on another worker, with no recover."""
    first, _ = workers.start("worker-a", 10, "--park-after", "0.2s")
    store = hitl.connect(prepared_db)
    run_id = store.enqueue("Queued", 3, requester="carol")
    testing.wait_until(lambda: store.run_state(run_id) == "DELAYED", timeout=60)
    workers.kill(first)
    store.respond(run_id, approve=True, by="bob")
    status = store.status(run_id)
    assert status is not None
    assert (status.status, status.detail) == (
        "answered",
        "approved by bob; resumes on the next live worker",
    )
    second, _ = workers.start("worker-b", 10, "--park-after", "0.2s")
    assert store.result(run_id, timeout=60)["pid"] == second.pid
    assert workers.lines()[f"before {run_id}"] == 1


def test_stopping_a_busy_worker_loses_no_run(workers: Workers, prepared_db: str) -> None:
    """SIGTERM while runs are being dispatched: none fails; a restarted worker finishes them all."""
    first, _ = workers.start("worker-a", 50)
    store = hitl.connect(prepared_db)
    run_ids = store.enqueue_many("Quick", [((n,), {}) for n in range(300)])
    testing.wait_until(lambda: any(store.run_state(r) == "SUCCESS" for r in run_ids), timeout=60)
    first.terminate()
    assert first.wait(timeout=60) == 0
    workers.start("worker-a", 50)
    assert sorted(store.result(r, timeout=120) for r in run_ids) == list(range(300))


def test_two_workers_with_one_name_get_their_own_identities(
    workers: Workers, prepared_db: str
) -> None:
    """Each live worker process claims an executor identity of its own, even under one name."""
    _, first_id = workers.start("same-name", 10)
    _, second_id = workers.start("same-name", 10)
    assert first_id != second_id
    assert second_id.startswith(first_id)  # the next free slot of the same label


@pytest.mark.parametrize("module", ["no_such_module", "missing/agents.py"])
def test_a_worker_without_its_module_says_so(module: str, tmp_path: Path) -> None:
    """A wrong module name or path is a one-line error, not a traceback."""
    failed = subprocess.run(
        [HITL, "worker", module, "--db", f"sqlite:///{tmp_path / 'hitl.sqlite'}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert failed.returncode == 1
    assert failed.stderr.startswith("error: ConfigurationError: No ")
    assert "Traceback" not in failed.stderr
