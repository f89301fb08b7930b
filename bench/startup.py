"""How long a fresh process takes to start: ``import hitl_notebook``, ``hitl --help``, ``hitl inbox``.

What is measured
----------------
The wall-clock time of a new Python process, from its start to its exit, median (and best) of 5
runs after one untimed warm-up (which fills the file cache and writes the .pyc files):

- ``import hitl_notebook``: ``python -c "import hitl_notebook"``;
- ``hitl --help``: the command's help (the ``hitl`` script installed beside this Python);
- ``hitl inbox``: the inbox of an empty SQLite database in a new temporary directory (``--db``),
  launched once beforehand (``hitl.launch(url)``, then ``hitl.shutdown()``) so that its tables exist.

It also runs each once under ``python -X importtime`` and names the distributions that take the
most import time (the self time of every module, summed by top-level package), and whether pandas
was imported at all.

Run it from the repository root::

    python bench/startup.py            # 5 runs each
    python bench/startup.py --runs 9

It prints a table, then as its last line one JSON object:
``{"import": {"median_s", "best_s"}, "help": {...}, "inbox": {...}}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = [sys.executable, str(Path(sys.executable).with_name("hitl"))]
"""The ``hitl`` script run by this Python, so that ``-X importtime`` can be put in between."""


def commands(database: Path) -> dict[str, list[str]]:
    """What is timed, by name."""
    return {
        "import": [sys.executable, "-c", "import hitl_notebook"],
        "help": [*CLI, "--help"],
        "inbox": [*CLI, "inbox", "--db", f"sqlite:///{database}"],
    }


def wall_time(command: list[str]) -> float:
    """Seconds from the start of ``command`` to its exit (which must be 0)."""
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def slowest_imports(command: list[str], top: int = 6) -> tuple[list[tuple[str, float]], bool]:
    """The ``top`` slowest top-level packages (seconds), and whether pandas was imported."""
    stderr = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        check=True,
        capture_output=True,
        text=True,
    ).stderr
    totals: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        own, _, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if own.isdigit():
            package = name.split(".")[0]
            totals[package] = totals.get(package, 0.0) + int(own) / 1e6
    ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)[:top]
    return ranked, "pandas" in totals


def main() -> None:
    """Time each command and print a table, then one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (default 5)")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "empty.sqlite"
        create = f"import hitl_notebook as h; h.launch('sqlite:///{database}'); h.shutdown()"
        subprocess.run([sys.executable, "-c", create], check=True, capture_output=True)
        for name, command in commands(database).items():
            wall_time(command)
            times = [wall_time(command) for _ in range(args.runs)]
            results[name] = {"median_s": statistics.median(times), "best_s": min(times)}
            slowest, pandas = slowest_imports(command)
            listed = ", ".join(f"{package} {seconds:.2f}" for package, seconds in slowest)
            print(
                f"{name:<7} median {results[name]['median_s']:.2f} s  best "
                f"{results[name]['best_s']:.2f} s  pandas {'yes' if pandas else 'no '}  "
                f"slowest imports (s): {listed}"
            )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
