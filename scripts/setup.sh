#!/usr/bin/env bash
# Create .venv and install genzoo into it. Safe to run again: it only installs what is missing.
# On a machine without an NVIDIA GPU the CPU wheel of torch is installed first, so the installer
# does not pull the multi-gigabyte CUDA build.
#
# The installer is uv (installed into the venv by pip), which fetches and unpacks in parallel:
# measured on the 2-core machine, torch and every dependency in 15 s from a cold cache, where
# pip took 164 s (docs/benchmarks.md, "A newcomer's first minutes"). Where uv cannot be had,
# pip does the same steps.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${GENZOO_VENV:-.venv}"
TORCH_VERSION="${GENZOO_TORCH_VERSION:-2.13.0}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment in $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
if [ -x "$VENV/bin/uv" ] || "${PIP[@]}" install uv >/dev/null 2>&1; then
  # --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set, nothing is ever cached, and
  # every start compiles torch again (a second start took 19 s instead of 7)
  INSTALL=("$VENV/bin/uv" pip install -q --compile-bytecode --python "$VENV/bin/python")
  # uv does not read pip's configuration: pass on a local folder of wheels pip is told of
  FIND_LINKS="${PIP_FIND_LINKS:-$("${PIP[@]}" config get global.find-links 2>/dev/null || true)}"
  LOCAL=()
  for folder in $FIND_LINKS; do LOCAL+=(--find-links "$folder"); done
else
  echo "[setup] uv could not be installed; installing with pip (slower)"
  INSTALL=("${PIP[@]}" install)  # pip compiles bytecode as it installs
  LOCAL=()
fi

# found without importing it (an import costs 2 s on each start)
if ! "$VENV/bin/python" -c "import importlib.util as u, sys; sys.exit(u.find_spec('torch') is None)"
then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "[setup] NVIDIA GPU found: installing torch==$TORCH_VERSION (CUDA build)"
    "${INSTALL[@]}" "torch==$TORCH_VERSION"
  else
    echo "[setup] no GPU: installing the CPU wheel torch==$TORCH_VERSION"
    # A local or mirrored "+cpu" wheel is taken first; otherwise PyTorch's CPU index.
    "${INSTALL[@]}" ${LOCAL[@]+"${LOCAL[@]}"} "torch==$TORCH_VERSION+cpu" 2>/dev/null \
      || "${INSTALL[@]}" "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
  fi
fi

# The marker records which pyproject was installed, so a second run is instant.
stamp="$VENV/.genzoo-installed"
want="$(sha1sum pyproject.toml | cut -d' ' -f1)-${1:-base}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  extras=""
  [ "${1:-}" = "test" ] && extras="[test]"
  echo "[setup] installing genzoo$extras and its dependencies"
  "${INSTALL[@]}" -e ".$extras"
  echo "$want" > "$stamp"
fi

# genzoo's own modules, compiled for the same reason (quick: only what changed since)
"$VENV/bin/python" -m compileall -q -j 0 registry dashboard plugins >/dev/null || true
