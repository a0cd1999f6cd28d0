#!/usr/bin/env bash
# Set up .venv (CPU torch where there is no GPU), install Chromium for the browser test when it
# is missing, run the linter (ruff) and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
bash scripts/browser.sh
# the linter first: its configuration is pyproject.toml's [tool.ruff] (CONTRIBUTING.md)
.venv/bin/ruff check .
# Two test processes (pytest-xdist): most tests use one thread, so on 2 cores the suite takes
# about 10 minutes instead of 19. GENZOO_TEST_PROCESSES=0 runs it in this process.
exec .venv/bin/python -m pytest -n "${GENZOO_TEST_PROCESSES:-2}" "$@"
