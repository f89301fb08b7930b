#!/usr/bin/env bash
# Set everything up and open JupyterLab on notebooks/ with the quickstart (embedded SQLite default).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/jupyter lab --notebook-dir=notebooks 01_quickstart.ipynb "$@"
