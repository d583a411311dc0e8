#!/usr/bin/env bash
# Fetch what tools/gpu_check.py needs on a lent GPU machine that has torch (CUDA) and onnx but not
# the rest: Python wheels into .whl/ and the EGL/GL loader packages into .whl/gl/ (about 30 MiB in
# all, under the 64 MiB a device call carries). .whl/ is git-ignored: nothing here is committed.
#
#   bash tools/gpu_wheels.sh            # then carry ".whl" and run:
#   python3 tools/gpu_check.py --wheels .whl --out "$OUT"
#
# gpu_check installs only the wheels whose package is missing there (--no-index --no-deps, into a
# folder of its own on sys.path), so a machine that already has transformers keeps its own.
# Binary wheels are for CPython 3.12 on x86-64 (what the lent H200 machines run); PY=3.11 etc. for others.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-3.12}"
PIP="${PIP:-.venv/bin/python -m pip}"
mkdir -p .whl/gl
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform manylinux_2_34_x86_64
           --platform manylinux_2_35_x86_64 --platform manylinux_2_24_x86_64)
$PIP download -q --no-deps --only-binary=:all: --python-version "$PY" --implementation cp "${platforms[@]}" -d .whl \
    diffusers==0.42.1 moderngl==5.13.0 glcontext==3.1.0 transformers==5.24.0 tokenizers==0.23.3 \
    safetensors==0.8.0 regex==2026.11.19
# EGL through glvnd (the NVIDIA driver brings its own EGL vendor library; these are the loaders).
if command -v apt-get >/dev/null; then
    lists=/tmp/vj-apt-amd64
    mkdir -p "$lists/partial"
    opts=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists="$lists")
    apt-get "${opts[@]}" update -qq >/dev/null
    (cd .whl/gl && apt-get "${opts[@]}" download -qq libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null)
fi
du -sh .whl
ls .whl .whl/gl
