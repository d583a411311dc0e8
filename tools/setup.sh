#!/usr/bin/env bash
# Installs everything vj needs on a fresh Debian machine: system packages (when root),
# a virtual environment in .venv, and the Python packages. Safe to run again: each step
# is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(portaudio19-dev libportaudio2 jackd2 libjack-jackd2-0 xvfb xauth
              libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 libglfw3 liblo-tools
              libasound2 libgles2 chromium chromium-driver)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    echo "jackd2 jackd/tweak_rt_limits boolean false" | debconf-set-selections
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: not root; please install: ${missing[*]}" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
stamp=.venv/.vj-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VPY" -m pip install -q --upgrade pip
  if ! "$VPY" -c "import torch" 2>/dev/null; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
      "$VPY" -m pip install -q torch
    else
      # CPU build: resolves from a local file on the project's machines, else from PyTorch's CPU index.
      "$VPY" -m pip install -q "torch==2.13.0" 2>/dev/null \
        || "$VPY" -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
    fi
  fi
  # link and ndi: optional extras, installed here so their tests run (tests skip, saying why, without them)
  "$VPY" -m pip install -q -e ".[test,link,ndi]"
  touch "$stamp"
fi
echo "setup: ready (.venv)"
