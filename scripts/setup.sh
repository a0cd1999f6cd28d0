#!/usr/bin/env bash
# Create .venv and install genzoo into it. Safe to run again: it only installs what is missing.
# On a machine without an NVIDIA GPU the CPU wheel of torch is installed first, so pip does not
# pull the multi-gigabyte CUDA build.
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

if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "[setup] NVIDIA GPU found: installing torch==$TORCH_VERSION (CUDA build)"
    "${PIP[@]}" install "torch==$TORCH_VERSION"
  else
    echo "[setup] no GPU: installing the CPU wheel torch==$TORCH_VERSION"
    # A local or mirrored "+cpu" wheel is taken first; otherwise PyTorch's CPU index.
    "${PIP[@]}" install "torch==$TORCH_VERSION+cpu" 2>/dev/null \
      || "${PIP[@]}" install "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
  fi
fi

# The marker records which pyproject was installed, so a second run is instant.
stamp="$VENV/.genzoo-installed"
want="$(sha1sum pyproject.toml | cut -d' ' -f1)-${1:-base}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  extras=""
  [ "${1:-}" = "test" ] && extras="[test]"
  echo "[setup] installing genzoo$extras and its dependencies"
  "${PIP[@]}" install -e ".$extras"
  echo "$want" > "$stamp"
fi
