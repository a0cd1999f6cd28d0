#!/usr/bin/env bash
# Set up .venv, train the demo models that are missing (about a minute and a half on 2 CPU
# cores, once), and serve the dashboard on http://localhost:${PORT:-8501}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/genzoo dashboard --port "${PORT:-8501}" "$@"
