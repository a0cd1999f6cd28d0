#!/usr/bin/env bash
# Install Debian's Chromium for the browser test when it is missing. Playwright's own browser
# download needs the open internet; the Debian package comes from the package registry.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -n "${GENZOO_CHROMIUM:-}" ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "[setup] installing Debian's chromium for the browser test"
export DEBIAN_FRONTEND=noninteractive
# A failed install must not stop the other tests: the browser test then fails, saying why.
if ! { $SUDO apt-get update -qq >/dev/null \
       && $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
  echo "[setup] could not install chromium: the browser test will fail" >&2
fi
