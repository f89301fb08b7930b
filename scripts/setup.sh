#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install hitl_notebook with its development extras. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

python=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python="$candidate"
    break
  fi
done
if [ -z "$python" ]; then
  echo "hitl_notebook needs Python 3.11 or newer; install it and run this again." >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=.venv/.hitl-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet --editable ".[dev]"
  touch "$stamp"
fi

# The browser tests (tests/browser) drive Debian's Chromium through Playwright; Playwright's own
# browser download is not used.
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
  else
    echo "Chromium is missing: the browser tests need it. Install it with" >&2
    echo "  sudo apt-get install -y chromium   (or skip them: pytest -m 'not browser')" >&2
  fi
fi
