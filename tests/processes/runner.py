"""A process that plays a notebook kernel or an agent service in the multi-process tests.

    python runner.py --db URL --executor NAME --agents FILE [--park-after S] start N
        [--timeout S --on-timeout X --agent NAME]
    python runner.py --db URL --executor NAME --agents FILE [--park-after S] serve

``--schedule-every S``: how often the process fires its share of the durable schedule.

It launches hitl_notebook, imports the agent module from FILE (so a test can edit it between two
sessions), optionally starts N runs of ``Counting`` (or ``--agent``) and prints their ids as one
JSON line, prints ``ready``, and then keeps the process alive until it is killed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time

import hitl_notebook as hitl


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--executor", required=True)
    parser.add_argument("--agents", required=True)
    parser.add_argument("--park-after", type=float, default=30.0)
    parser.add_argument("--schedule-every", type=float, default=1.0)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start")
    start.add_argument("n", type=int)
    start.add_argument("--timeout", type=float, default=None)
    start.add_argument("--on-timeout", default="raise")
    start.add_argument("--agent", default="Counting")
    commands.add_parser("serve")
    args = parser.parse_args()

    hitl.launch(
        args.db,
        executor=args.executor,
        park_after=args.park_after,
        schedule_every=args.schedule_every,
    )
    spec = importlib.util.spec_from_file_location("scenario_agents", args.agents)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["scenario_agents"] = module
    spec.loader.exec_module(module)  # the agents are defined after launch, as in a notebook

    if args.command == "start":
        agent = getattr(module, args.agent)
        runs = [agent.start(args.timeout, args.on_timeout) for _ in range(args.n)]
        print(json.dumps([run.id for run in runs]), flush=True)
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
