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
    python bench/startup.py --baseline ../old/.venv/bin/python   # and an older install, with ratios

With ``--baseline``, the same commands run with that Python (and the ``hitl`` beside it), run by
run alternating with this one, and each row gets the ratio this / baseline.

It prints a table, then as its last line one JSON object:
``{"import": {"median_s", "best_s"}, "help": {...}, "inbox": {...}}`` (and ``"baseline"``, the
same for the baseline).
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


def commands(python: str, database: Path) -> dict[str, list[str]]:
    """What is timed, by name, for the install of ``python`` (its ``hitl`` script is run by it, so
    that ``-X importtime`` can be put in between)."""
    cli = [python, str(Path(python).with_name("hitl"))]
    return {
        "import": [python, "-c", "import hitl_notebook"],
        "help": [*cli, "--help"],
        "inbox": [*cli, "inbox", "--db", f"sqlite:///{database}"],
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
    parser.add_argument("--baseline", metavar="PYTHON", help="the Python of an install to compare")
    args = parser.parse_args()
    pythons = {"this": sys.executable} | ({"baseline": args.baseline} if args.baseline else {})
    results: dict[str, dict[str, dict[str, float]]] = {side: {} for side in pythons}
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "empty.sqlite"
        create = f"import hitl_notebook as h; h.launch('sqlite:///{database}'); h.shutdown()"
        subprocess.run([sys.executable, "-c", create], check=True, capture_output=True)
        timed = {side: commands(python, database) for side, python in pythons.items()}
        for name in timed["this"]:
            times: dict[str, list[float]] = {side: [] for side in pythons}
            for side in pythons:
                wall_time(timed[side][name])
            for _ in range(args.runs):
                for side in pythons:
                    times[side].append(wall_time(timed[side][name]))
            for side in pythons:
                found = {"median_s": statistics.median(times[side]), "best_s": min(times[side])}
                results[side][name] = found
                slowest, pandas = slowest_imports(timed[side][name])
                listed = ", ".join(f"{package} {seconds:.2f}" for package, seconds in slowest)
                label = name if side == "this" else f"  {side}"
                print(
                    f"{label:<10} median {found['median_s']:.2f} s  best {found['best_s']:.2f} s  "
                    f"pandas {'yes' if pandas else 'no '}  slowest imports (s): {listed}"
                )
            if args.baseline:
                ratio = results["this"][name]["median_s"] / results["baseline"][name]["median_s"]
                print(f"  this / baseline: {ratio:.2f}x")
    print(
        json.dumps(
            {**results["this"], **({"baseline": results["baseline"]} if args.baseline else {})}
        )
    )


if __name__ == "__main__":
    main()
