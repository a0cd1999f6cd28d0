#!/usr/bin/env bash
# Set up .venv (CPU torch where there is no GPU) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
exec .venv/bin/python -m pytest "$@"
