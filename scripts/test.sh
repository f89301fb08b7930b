#!/usr/bin/env bash
# Set everything up and run every check: format, lint, types, the test suite (SQLite and
# Postgres, multi-process scenarios, the widgets in headless Chromium) and the notebooks under
# nbval. Screenshots of the browser tests land in test-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

if ! .venv/bin/python -c "import psycopg; psycopg.connect('${HITL_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}').close()" 2>/dev/null; then
  echo "PostgreSQL is not reachable at 127.0.0.1:5432; the Postgres half of the suite needs it." >&2
  echo "Start it (e.g. pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start) or set HITL_TEST_POSTGRES_URL." >&2
  exit 1
fi

.venv/bin/ruff format --check src tests bench notebooks
.venv/bin/ruff check src tests bench notebooks
.venv/bin/mypy

# The tests run in two processes (pytest-xdist): they spend most of their time waiting for runs,
# answers and deadlines, not computing. The browser tests share one worker (one Jupyter server).
HITL_HOME="$(mktemp -d)" .venv/bin/python -m pytest tests -n 2 --dist loadgroup \
  -p no:cacheprovider "$@"

# The notebooks then run one after the other, as a reader would, on a fresh default database.
HITL_HOME="$(mktemp -d)" exec .venv/bin/python -m pytest notebooks \
  --nbval --nbval-current-env --nbval-cell-timeout=180 \
  --nbval-sanitize-with notebooks/sanitize.cfg -p no:cacheprovider "$@"
