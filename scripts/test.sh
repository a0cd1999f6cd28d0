#!/usr/bin/env bash
# Set up .venv (CPU torch where there is no GPU), install Chromium for the browser test when it
# is missing, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
bash scripts/browser.sh
exec .venv/bin/python -m pytest "$@"
