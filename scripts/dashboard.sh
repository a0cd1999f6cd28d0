#!/usr/bin/env bash
# Set up .venv and serve the dashboard on http://localhost:${PORT:-8501} at once; the demo's
# missing runs are queued and trained in the background (about 6 minutes on 2 CPU cores, once),
# and the pages fill in as they complete.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/genzoo dashboard --port "${PORT:-8501}" "$@"
