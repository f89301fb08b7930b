"""A process that races another one to answer the same requests (see tests/test_race.py).

    python racer.py URL NAME CHOICE IDS_FILE READY_FILE GO_FILE

It uses only ``hitl_notebook.connect(URL)``: no agent code, no launch. It warms its connection
up, creates READY_FILE, waits until GO_FILE exists, then answers every request id listed in
IDS_FILE (a JSON array), in order, choosing CHOICE as NAME. It prints one JSON line per request:
``won`` true, or false with the refusal's error class and ``decided_by``; and ``at``, when it sent
the answer (epoch seconds).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import hitl_notebook as hitl


def main() -> None:
    url, name, choice, ids_file, ready_file, go_file = sys.argv[1:]
    request_ids: list[str] = json.loads(Path(ids_file).read_text())
    store = hitl.connect(url)
    store.inbox(limit=1)  # connect and load everything before the start signal
    Path(ready_file).touch()
    go = Path(go_file)
    while not go.exists():
        time.sleep(0.001)
    for request_id in request_ids:
        line: dict[str, Any] = {"request_id": request_id, "at": time.time()}
        try:
            decision = store.respond(request_id, choice=choice, by=name)
            line |= {"won": True, "decided_by": decision.by}
        except hitl.AlreadyDecidedError as error:
            line |= {"won": False, "error": type(error).__name__, "decided_by": error.decided_by}
        except hitl.AnswerError as error:
            line |= {"won": False, "error": type(error).__name__, "message": str(error)}
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
