#!/usr/bin/env bash
# Set everything up and open JupyterLab on notebooks/ with the quickstart (embedded SQLite default).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cd notebooks
as_root=()
if [ "$(id -u)" = 0 ]; then
  as_root=(--allow-root)  # containers and CI machines often run as root
fi
exec ../.venv/bin/jupyter lab 01_quickstart.ipynb "${as_root[@]}" "$@"
